-- Schema of one run's database (runs/<suite>-<timestamp>/run.sqlite), version 4
-- (evals/store.py: SCHEMA_VERSION and the migrations from older versions).
-- The runner writes it, reports read it. Times: wall clock as ISO-8601 UTC text where a person reads
-- them, monotonic seconds (perf_counter, relative to run start) for latency arithmetic.
-- Unknown values are NULL, never 0.

CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER NOT NULL
);

-- One row: the run manifest.
CREATE TABLE IF NOT EXISTS run (
    run_id TEXT PRIMARY KEY,
    suite_name TEXT NOT NULL,
    suite_path TEXT,
    suite_text TEXT NOT NULL,          -- the suite file as written (after extends: the merged document as YAML)
    suite_hash TEXT NOT NULL,          -- hash of the task identities: equal hashes mean the same tasks
    expanded_json TEXT,                -- expanded suite (JSON): target, settings, grid, scorers, gate
    cli_args_json TEXT,
    harness_version TEXT NOT NULL,
    git_commit TEXT,
    host TEXT,
    provider TEXT NOT NULL,
    endpoint TEXT,
    model TEXT,
    status TEXT NOT NULL,              -- running | completed | interrupted | failed | budget
    started_at TEXT NOT NULL,
    ended_at TEXT,
    monotonic_origin REAL,             -- perf_counter() at run start (first session; see segments for later ones)
    notes_json TEXT
);

CREATE TABLE IF NOT EXISTS cells (
    cell_id TEXT PRIMARY KEY,
    axes_json TEXT NOT NULL,           -- {"settings.temperature": 0.2, "prompt": "terse"}
    model TEXT NOT NULL,
    settings_json TEXT NOT NULL,
    number_results INTEGER NOT NULL,
    delivery_method TEXT NOT NULL,
    prompt_variant TEXT
);

CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY,
    cell_id TEXT NOT NULL REFERENCES cells(cell_id),
    sample_id TEXT NOT NULL,
    replicate INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    task_uuid TEXT,                    -- kept across retries and resumes
    request_json TEXT NOT NULL,        -- the Runware task object (no key, no taskUUID)
    sample_json TEXT NOT NULL,         -- input, target, metadata, fields
    status TEXT NOT NULL,              -- pending | done | errored | skipped
    error_class TEXT,                  -- final classification when status = errored
    error_code TEXT,
    error_message TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    cache_hit INTEGER NOT NULL DEFAULT 0,
    warmup INTEGER NOT NULL DEFAULT 0, -- warm-up tasks are stored but excluded from reports
    scheduled_at REAL,                 -- open-loop: scheduled dispatch time (monotonic, relative)
    dispatched_at REAL,                -- actual dispatch time (monotonic, relative)
    usage_prompt_tokens INTEGER,
    usage_completion_tokens INTEGER,
    usage_total_tokens INTEGER,
    usage_thinking_tokens INTEGER,
    cost REAL,                         -- USD the answer cost when it was produced (kept for cache hits)
    cost_spent REAL,                   -- USD actually spent in this run (0 for a cache hit, NULL when unknown)
    cost_source TEXT,                  -- provider | price_table | NULL
    finished_at TEXT
);
CREATE INDEX IF NOT EXISTS tasks_by_cell ON tasks(cell_id);
CREATE INDEX IF NOT EXISTS tasks_by_status ON tasks(status);

CREATE TABLE IF NOT EXISTS attempts (
    task_id TEXT NOT NULL REFERENCES tasks(task_id),
    number INTEGER NOT NULL,
    task_uuid TEXT NOT NULL,
    http_status INTEGER,
    error_class TEXT,
    error_code TEXT,
    error_message TEXT,
    t_queued REAL, t_sent REAL, t_headers REAL, t_first_token REAL, t_last_token REAL, t_done REAL,
    token_events_json TEXT,            -- arrival times of token-bearing stream events (relative monotonic)
    n_events INTEGER,
    concurrency_limit INTEGER,         -- the adaptive limit when this attempt was sent
    notes_json TEXT,
    PRIMARY KEY (task_id, number)
);

CREATE TABLE IF NOT EXISTS results (
    task_id TEXT NOT NULL REFERENCES tasks(task_id),
    result_index INTEGER NOT NULL,
    text TEXT NOT NULL,
    reasoning TEXT,
    finish_reason TEXT,
    seed INTEGER,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    total_tokens INTEGER,
    thinking_tokens INTEGER,
    cost REAL,
    PRIMARY KEY (task_id, result_index)
);

-- One row per (result, scorer, scoring pass). Re-scoring adds a pass; older passes stay.
CREATE TABLE IF NOT EXISTS scores (
    task_id TEXT NOT NULL,
    result_index INTEGER NOT NULL,
    scorer TEXT NOT NULL,              -- scorer name as given in the suite (or name#n when repeated)
    pass_id INTEGER NOT NULL DEFAULT 1,
    value REAL,                        -- NULL when the scorer itself failed
    passed INTEGER,                    -- 1/0 for pass/fail scorers, NULL for continuous ones
    explanation TEXT,
    error TEXT,                        -- scorer error (isolated to this result; not a wrong answer)
    scored_at TEXT,
    -- Version 4 (last, where ALTER TABLE puts it): the answer the scorer extracted (Score.answer),
    -- what majority vote counts; NULL when the scorer extracts none or the row predates version 4.
    answer TEXT,
    PRIMARY KEY (task_id, result_index, scorer, pass_id)
);

-- Calls made by model-graded scorers, kept apart from the run's own usage and cost.
CREATE TABLE IF NOT EXISTS judge_calls (
    task_id TEXT NOT NULL,
    result_index INTEGER NOT NULL,
    scorer TEXT NOT NULL,
    pass_id INTEGER NOT NULL DEFAULT 1,
    model TEXT,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    cost REAL,
    latency_s REAL,
    output TEXT,
    error TEXT
);

-- History of the adaptive concurrency limit (and in-flight count) over the run.
CREATE TABLE IF NOT EXISTS concurrency (
    t REAL NOT NULL,                   -- monotonic, relative to run start
    limit_value INTEGER NOT NULL,
    in_flight INTEGER,
    reason TEXT                        -- start | throttled | grow
);

-- Version 2: one row per session of the run (the first start and every resume).
CREATE TABLE IF NOT EXISTS segments (
    segment INTEGER PRIMARY KEY,       -- 1 for the first session, then one more per resume
    started_at TEXT NOT NULL,
    ended_at TEXT,
    status TEXT,                       -- how this session ended: completed | interrupted | failed | budget
    pid INTEGER,
    cli_args_json TEXT,
    tasks_sent INTEGER,                -- tasks this session dispatched (cache hits excluded)
    requests INTEGER,                  -- API calls this session made (attempts)
    -- Version 3: where this session sent its requests, and its own monotonic clock. perf_counter
    -- values only compare within one boot of one host, so each session maps its own onto the run's
    -- timeline: relative time = perf_counter() - monotonic_origin + run_offset.
    provider TEXT,
    endpoint TEXT,                     -- endpoint identity: resolved URL, or engine and options when embedded
    model TEXT,
    monotonic_origin REAL,             -- perf_counter() at this session's start
    wall_origin REAL,                  -- Unix time at the same moment
    run_offset REAL                    -- seconds from the run's start to this session's start (never decreasing)
);
