"""Analyse: frames, statistics, comparisons and gates, plots, HTML/Markdown/JUnit renderers."""
