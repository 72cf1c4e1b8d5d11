package authn

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"
)

// Audit event types: what [AuditEvent.Type] holds (OWASP ASVS 5.0 V16).
const (
	EventLoginSucceeded  = "login.succeeded"
	EventLoginFailed     = "login.failed" // Reason says why
	EventLogout          = "logout"
	EventRefreshed       = "token.refreshed"
	EventRefreshReused   = "token.refresh_reused" // an already used refresh token: its session is ended
	EventSessionEnded    = "session.ended"        // by the user, a superuser, or reuse detection; Reason says which
	EventRegistered      = "user.registered"
	EventRegisterExists  = "user.register_existing" // registration for a taken email, answered as a success
	EventVerifyRequested = "verify.requested"
	EventVerified        = "verify.done"
	EventResetRequested  = "reset.requested"
	EventReset           = "reset.done"
	EventPasswordChanged = "password.changed"
	EventEmailChanged    = "email.changed"
	EventUserUpdated     = "user.updated" // by a superuser; ActorID is theirs
	EventUserDeleted     = "user.deleted"
	EventThrottled       = "throttled" // Reason is the rule
	EventMailSuppressed  = "mail.suppressed"
)

// Reasons of EventLoginFailed.
const (
	ReasonUnknownUser     = "unknown_user"
	ReasonBadPassword     = "bad_password"
	ReasonInactive        = "inactive"
	ReasonNotVerified     = "not_verified"
	ReasonUnsupportedHash = "unsupported_hash"
)

// AuditEvent is one security-relevant event. It never holds a password, a
// token, a hash or a secret.
type AuditEvent struct {
	// Type is one of the Event… constants.
	Type string
	// Time is when the event happened.
	Time time.Time
	// UserID is the account the event is about; uuid.Nil when unknown
	// (a login for an email that has no account).
	UserID uuid.UUID
	// ActorID is who acted, when not the user themselves (a superuser).
	ActorID uuid.UUID
	// SessionID is the session concerned, when there is one.
	SessionID uuid.UUID
	// Reason refines Type (a failure's cause, a throttling rule).
	Reason string
	// Client is who sent the request: IP, user agent, request id.
	Client Client
}

// AuditHandler receives every audit event, after it is logged. It runs in
// the request and must not block for long: hand the event to a queue.
type AuditHandler func(ctx context.Context, e AuditEvent)

// audit logs e as one structured line, message "audit", and hands it to
// the application's handler.
func (m *Manager) audit(ctx context.Context, e AuditEvent) {
	e.Time = m.now().UTC()
	if e.Client == (Client{}) {
		e.Client = ClientFromContext(ctx)
	}
	if e.ActorID == uuid.Nil {
		if actor := FromContext(ctx); actor != nil && actor.ID != e.UserID {
			e.ActorID = actor.ID
		}
	}
	attrs := make([]slog.Attr, 0, 9)
	attrs = append(attrs, slog.String("event", e.Type))
	if e.UserID != uuid.Nil {
		attrs = append(attrs, slog.String("user_id", e.UserID.String()))
	}
	if e.ActorID != uuid.Nil {
		attrs = append(attrs, slog.String("actor_id", e.ActorID.String()))
	}
	if e.SessionID != uuid.Nil {
		attrs = append(attrs, slog.String("session_id", e.SessionID.String()))
	}
	if e.Reason != "" {
		attrs = append(attrs, slog.String("reason", e.Reason))
	}
	attrs = append(attrs, slog.String("ip", e.Client.IP), slog.String("user_agent", e.Client.UserAgent))
	if e.Client.RequestID != "" {
		attrs = append(attrs, slog.String("request_id", e.Client.RequestID))
	}
	m.auditLog.LogAttrs(ctx, slog.LevelInfo, "audit", attrs...)
	if m.onAudit != nil {
		m.onAudit(ctx, e)
	}
}
