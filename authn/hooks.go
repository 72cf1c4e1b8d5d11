package authn

import (
	"context"
	"fmt"
)

// Hooks are the points where an application reacts to the flows, as in
// fastapi-users' UserManager (on_after_register, …). Embed [NopHooks] and
// override only what you need.
//
// Failure policy: the After… hooks run once the change is stored. Their
// error is logged by the Manager (with the hook's name and the user id,
// never a token) and handed to the handler set with [WithHookErrorHandler];
// it does not undo the change nor fail the flow, so a failing mail hook
// loses neither the user nor the token's validity — the user can ask for a
// new token. BeforeDelete is the exception: its error aborts the deletion
// and is returned, wrapped in a *HookError.
//
// Hooks run in the request. AfterRequestVerify and AfterForgotPassword run
// only for existing accounts, so a slow hook (an SMTP round trip) makes
// those answers slower for them: a hook that must not reveal accounts by
// timing should hand the message to a queue and return.
type Hooks interface {
	// AfterRegister runs after a user is created.
	AfterRegister(ctx context.Context, u *User) error
	// AfterRegisterExisting runs when somebody registers with the email of
	// u, an existing user, and the Manager answers as if it had succeeded
	// (WithQuietRegister): tell the owner.
	AfterRegisterExisting(ctx context.Context, u *User) error
	// AfterLogin runs after a successful login.
	AfterLogin(ctx context.Context, u *User) error
	// AfterRequestVerify gets the verify token to send to the user.
	AfterRequestVerify(ctx context.Context, u *User, token string) error
	// AfterVerify runs after a user is verified.
	AfterVerify(ctx context.Context, u *User) error
	// AfterForgotPassword gets the reset token to send to the user.
	AfterForgotPassword(ctx context.Context, u *User, token string) error
	// AfterResetPassword runs after a password reset.
	AfterResetPassword(ctx context.Context, u *User) error
	// AfterUpdate gets the changed fields by their JSON name; a changed
	// password appears as the key "password" with a nil value.
	AfterUpdate(ctx context.Context, u *User, changed map[string]any) error
	// AfterEmailChanged runs after u's email changed to another mailbox;
	// oldEmail is the address before, which should be told.
	AfterEmailChanged(ctx context.Context, u *User, oldEmail string) error
	// BeforeDelete runs before a user is deleted; an error aborts.
	BeforeDelete(ctx context.Context, u *User) error
	// AfterDelete runs after a user is deleted.
	AfterDelete(ctx context.Context, u *User) error
}

// NopHooks implements every hook as a no-op. Embed it in your hooks type.
type NopHooks struct{}

var _ Hooks = NopHooks{}

// AfterRegister implements Hooks.
func (NopHooks) AfterRegister(context.Context, *User) error { return nil }

// AfterLogin implements Hooks.
func (NopHooks) AfterLogin(context.Context, *User) error { return nil }

// AfterRequestVerify implements Hooks.
func (NopHooks) AfterRequestVerify(context.Context, *User, string) error { return nil }

// AfterRegisterExisting implements Hooks.
func (NopHooks) AfterRegisterExisting(context.Context, *User) error { return nil }

// AfterEmailChanged implements Hooks.
func (NopHooks) AfterEmailChanged(context.Context, *User, string) error { return nil }

// AfterVerify implements Hooks.
func (NopHooks) AfterVerify(context.Context, *User) error { return nil }

// AfterForgotPassword implements Hooks.
func (NopHooks) AfterForgotPassword(context.Context, *User, string) error { return nil }

// AfterResetPassword implements Hooks.
func (NopHooks) AfterResetPassword(context.Context, *User) error { return nil }

// AfterUpdate implements Hooks.
func (NopHooks) AfterUpdate(context.Context, *User, map[string]any) error { return nil }

// BeforeDelete implements Hooks.
func (NopHooks) BeforeDelete(context.Context, *User) error { return nil }

// AfterDelete implements Hooks.
func (NopHooks) AfterDelete(context.Context, *User) error { return nil }

// HookError is a hook's failure, as logged and as returned by Delete when
// BeforeDelete fails.
type HookError struct {
	Hook string // e.g. "AfterForgotPassword"
	Err  error
}

// Error names the hook.
func (e *HookError) Error() string { return fmt.Sprintf("authn: hook %s: %v", e.Hook, e.Err) }

// Unwrap returns the hook's error.
func (e *HookError) Unwrap() error { return e.Err }
