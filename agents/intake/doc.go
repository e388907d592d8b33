// Package intake is the front door of tenant onboarding. It takes
// onboarding requests from Jira issue webhooks, from generic signed ticket
// webhooks and from people (the REST API and the CLI), validates them at
// the edge, stores each in the control-plane outbox (intake_requests) and
// only then enqueues its tenant:onboard task with a deterministic task id.
//
// Redeliveries collapse: a webhook delivery id or a ticket key seen before
// answers with the request already stored, and a request for a tenant whose
// onboarding is still in flight joins it. The reconciler re-enqueues every
// unfinished request, so a Redis that lost its queues loses no onboarding;
// it fails a request whose task Redis archived unfinished (OnAbandoned) and
// gives a request whose task completed without finishing it a new task
// attempt, so every request ends done or failed. Retry sends a failed
// tenant's request round again under its next task attempt.
//
// The provisioning agent reports back through MarkDone and MarkFailed;
// callers that wait (fleet tenants onboard --wait) use Get or Wait.
package intake
