package authn

import (
	"context"
	"errors"
)

// ChainHooks returns Hooks that run each of hs in turn. An After… hook
// runs them all and returns their errors joined; BeforeDelete stops at the
// first error, which vetoes the deletion.
func ChainHooks(hs ...Hooks) Hooks { return chain(hs) }

type chain []Hooks

var _ Hooks = chain(nil)

func (c chain) each(f func(Hooks) error) error {
	var errs []error
	for _, h := range c {
		errs = append(errs, f(h))
	}
	return errors.Join(errs...)
}

func (c chain) AfterRegister(ctx context.Context, u *User) error {
	return c.each(func(h Hooks) error { return h.AfterRegister(ctx, u) })
}

func (c chain) AfterRegisterExisting(ctx context.Context, u *User) error {
	return c.each(func(h Hooks) error { return h.AfterRegisterExisting(ctx, u) })
}

func (c chain) AfterLogin(ctx context.Context, u *User) error {
	return c.each(func(h Hooks) error { return h.AfterLogin(ctx, u) })
}

func (c chain) AfterRequestVerify(ctx context.Context, u *User, token string) error {
	return c.each(func(h Hooks) error { return h.AfterRequestVerify(ctx, u, token) })
}

func (c chain) AfterVerify(ctx context.Context, u *User) error {
	return c.each(func(h Hooks) error { return h.AfterVerify(ctx, u) })
}

func (c chain) AfterForgotPassword(ctx context.Context, u *User, token string) error {
	return c.each(func(h Hooks) error { return h.AfterForgotPassword(ctx, u, token) })
}

func (c chain) AfterResetPassword(ctx context.Context, u *User) error {
	return c.each(func(h Hooks) error { return h.AfterResetPassword(ctx, u) })
}

func (c chain) AfterUpdate(ctx context.Context, u *User, changed map[string]any) error {
	return c.each(func(h Hooks) error { return h.AfterUpdate(ctx, u, changed) })
}

func (c chain) AfterEmailChanged(ctx context.Context, u *User, oldEmail string) error {
	return c.each(func(h Hooks) error { return h.AfterEmailChanged(ctx, u, oldEmail) })
}

func (c chain) BeforeDelete(ctx context.Context, u *User) error {
	for _, h := range c {
		if err := h.BeforeDelete(ctx, u); err != nil {
			return err
		}
	}
	return nil
}

func (c chain) AfterDelete(ctx context.Context, u *User) error {
	return c.each(func(h Hooks) error { return h.AfterDelete(ctx, u) })
}
