// Package deploy holds Mainline's pure domain: versions, desired and last
// state, the rolling-update planner, rollback choice and build ordering.
//
// It performs no I/O and imports only the standard library, so every rule
// about what to run next can be tested without Docker, SQL or HTTP. Any
// package may import it; it imports none of Mainline's.
package deploy
