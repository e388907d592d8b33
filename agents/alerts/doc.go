// Package alerts is the fleet's alert engine. Checkers (the health agent,
// the pool watch, onboarding and migrations) report what is true now with
// Observe; the engine keeps one alert per dedup key (kind + subject) in the
// control plane, notifies it once, repeats it only after the repeat
// interval while it stays true and unacknowledged, and resolves it when the
// condition clears. An instance that is down inhibits the tenant-level
// alerts on it, and its one incident lists the tenants it affects.
// Silences mute a subject for a while.
//
// Notifications are an outbox in the control plane, written in the
// transaction that changed the alert and delivered to every configured
// Sink with retries by any fleet process (Deliver), so a crash loses none
// and several processes observing one condition notify it once.
package alerts
