-- +goose Up
-- A tenant's lease belongs to one attempt of one task, not to a task id:
-- token is random per attempt, renewals and the release name it, and a live
-- lease is never taken over (two copies of the same task, a retry while the
-- first run still works, both wait). owner stays as a label for operators
-- (the task id that holds it). Leases taken before this migration have an
-- empty token: they are taken over once they expire.
ALTER TABLE provision_leases ADD COLUMN token text NOT NULL DEFAULT '';

-- task_attempt names an intake request's current tenant:onboard task: 1 is
-- onboard:<id>, n > 1 is onboard:<id>:attempt:<n>. A retry of the failed
-- request, or a re-enqueue after its task completed without finishing it,
-- moves to the next attempt, because Redis keeps a finished task's id for a
-- day and would swallow a re-enqueue under the old one.
ALTER TABLE intake_requests
    ADD COLUMN task_attempt integer NOT NULL DEFAULT 1 CHECK (task_attempt >= 1);

-- +goose Down
ALTER TABLE intake_requests DROP COLUMN task_attempt;
ALTER TABLE provision_leases DROP COLUMN token;
