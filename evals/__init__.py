"""Define: suite model, grid expansion, seeds, records, scorers and the run store."""
