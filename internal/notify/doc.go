// Package notify tells people when something needs them: it holds the
// configuration of notification channels (e-mail over SMTP, signed JSON
// webhooks and chat services through shoutrrr URLs), the events coffer
// notifies about, how an event is written as a message, and the senders that
// deliver one message to one channel.
//
// The package knows nothing of the catalog, the queue or HTTP: the caller
// decodes a channel's stored configuration with DecodeConfig, builds an
// Event from an operation, and calls (*Sender).Send from a River job, which
// retries with NextRetry while Retryable says trying again may help.
//
// Secrets (the SMTP password, the webhook secret and header values, tokens
// inside URLs) are masked by Config.Masked for API responses; a masked value
// sent back on update keeps the stored secret (DecodeConfig's stored
// argument). Message text passes through the Sender's redactor and the
// channel's own secret values are removed from every error, so no secret
// leaves in a message or an error sentence.
//
// docs/notifications.md describes channels, events, the message format, the
// webhook body and its signature for people who configure or receive them.
package notify
