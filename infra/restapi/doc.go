// Package restapi is the fleet's REST API, everything under /api/v1: the
// tenants and instances of the catalog, onboarding requests (the intake
// outbox), offboardings, isolation changes, migration runs, alerts and
// silences, batch slots and runs, health, the schedule, and the cost
// agent's recommendations. It owns the HTTP side of each resource (paths,
// bodies, status codes) and calls the agents through the small interfaces
// declared with each resource; no agent imports it.
//
// Register mounts the routes on the HTTP front behind its token; Handler
// serves the same routes in-process for the CLI, which holds the
// control-plane credentials and puts its auth.Principal in each request's
// context (actor.go reads it for the audit log).
//
// Three things are in one place here. errorStatus (errors.go) is the one
// mapping from an error to a status: not found 404, malformed 400, invalid
// 422, conflict 409, unavailable 503, anything else 500, whose cause is
// logged with the request id (X-Request-Id) and never put in the answer.
// views.go holds one JSON type per resource, which the CLI's --json output
// prints too. docs/openapi.yaml describes every route and schema, and
// openapi_test.go checks it against the routes Register mounts and the
// view types' fields, both ways.
//
// The webhooks (POST /webhooks/jira, /webhooks/tickets) are not part of
// it: they verify their own signatures and stay with the intake agent.
package restapi
