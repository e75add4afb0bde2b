// Package notify holds the providers.Notifier implementations: Slack
// incoming webhooks (Slack), a plain HMAC-signed HTTP webhook (Webhook), and
// GitHub commit statuses and deployments through any SCM that offers them
// (GitHub). Multi fans one notification out to several notifiers, routed by
// project and kind, and Retrying puts a bounded queue and a few retries in
// front of a notifier, so that a slow or failing receiver never holds up a
// deploy.
//
// A typical wiring retries each receiver on its own, so that one failing
// receiver neither holds up nor repeats the others:
//
//	slack := &notify.Retrying{Next: &notify.Slack{WebhookURL: u}, Logger: log}
//	hook := &notify.Retrying{Next: &notify.Webhook{URL: h, Secret: s}, Logger: log}
//	n := &notify.Multi{
//		Routes:  map[string][]providers.Notifier{"dependency_pr_red": {slack}},
//		Default: []providers.Notifier{slack, hook},
//	}
//	defer slack.Close(ctx)
//	defer hook.Close(ctx)
//
// Secrets — webhook secrets and Slack webhook URLs, whose path is the
// credential — never appear in errors or logs: errors name a receiver by its
// scheme and host only.
//
// Imported by cmd/mainline, which builds the notifiers from configuration;
// the controller sees only providers.Notifier.
package notify
