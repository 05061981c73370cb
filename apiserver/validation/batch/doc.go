// Package batch validates the batch/v1 objects served by skiff: Jobs and CronJobs.
//
// The rules follow upstream Kubernetes validation of the batch group, with the same field paths, error
// types and messages: counts and deadlines, completion modes, pod failure and success policies, the
// selector and labels that job defaulting generates, which parts of a Job may change once it exists,
// the transitions a Job status may make, and CronJob schedules and time zones. Defaulting (including
// selector generation) has already run when these functions are called. Embedded pod templates are
// validated by the core package.
//
// Time zones are resolved with time.LoadLocation, so the binary should embed time/tzdata for CronJob
// time zones to work on hosts without a zoneinfo database.
package batch
