package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// The production middleware of `keylin serve`, for applications that want
// the same: each is opt-in, and none changes the application's own error
// handler or binder unless the application installs it.
//
//	e.HTTPErrorHandler = httpapi.ErrorHandler(log) // only if you want the contract's shapes app-wide
//	ipx, err := httpapi.TrustedProxies([]string{"10.0.0.0/8"})
//	e.IPExtractor = ipx
//	e.Use(httpapi.RequestID(), httpapi.RequestLogger(log), httpapi.Recover(log),
//		httpapi.SecurityHeaders(), httpapi.BodyLimit(1<<20))

// ErrorHandler renders Echo's own errors (unknown route, wrong method,
// body too large, panics) in the contract's shape: {"detail": "<status
// text>"} as application/json, no body for HEAD; 5xx are logged.
func ErrorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		code := http.StatusInternalServerError
		var he *echo.HTTPError
		if errors.As(err, &he) {
			code = he.Code
		}
		if code >= 500 {
			log.Error("request failed", "method", c.Request().Method, "path", c.Request().URL.Path, "error", err)
		}
		if c.Request().Method == http.MethodHead {
			_ = c.NoContent(code)
			return
		}
		_ = writeStatus(c, code)
	}
}

// Recover turns a panic into a 500 and one log line with the stack.
func Recover(log *slog.Logger) echo.MiddlewareFunc {
	return middleware.RecoverWithConfig(middleware.RecoverConfig{
		DisablePrintStack: true,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			log.Error("panic", "method", c.Request().Method, "path", c.Request().URL.Path, "error", err, "stack", string(stack))
			return err
		},
	})
}

// RequestID gives every request an X-Request-Id (the client's, when it
// sends a short one), which keylin's audit events carry.
func RequestID() echo.MiddlewareFunc {
	return middleware.RequestIDWithConfig(middleware.RequestIDConfig{
		Skipper: func(c echo.Context) bool {
			// A client's id longer than a UUID is replaced, not logged.
			if id := c.Request().Header.Get(echo.HeaderXRequestID); len(id) > 64 {
				c.Request().Header.Del(echo.HeaderXRequestID)
			}
			return false
		},
	})
}

// RequestLogger logs one line per request: method, path (never the query
// string, which may carry a token), status, latency, client IP, request id
// and user id. It never logs a header, a body, a token or a password.
func RequestLogger(log *slog.Logger) echo.MiddlewareFunc {
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogMethod:    true,
		LogURIPath:   true,
		LogStatus:    true,
		LogLatency:   true,
		LogRemoteIP:  true,
		LogRequestID: true,
		HandleError:  true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			attrs := []slog.Attr{
				slog.String("method", v.Method),
				slog.String("path", v.URIPath),
				slog.Int("status", v.Status),
				slog.Duration("latency", v.Latency),
				slog.String("ip", v.RemoteIP),
			}
			if v.RequestID != "" {
				attrs = append(attrs, slog.String("request_id", v.RequestID))
			}
			if u := CurrentUser(c); u != nil {
				attrs = append(attrs, slog.String("user_id", u.ID.String()))
			}
			log.LogAttrs(c.Request().Context(), slog.LevelInfo, "request", attrs...)
			return nil
		},
	})
}

// SecurityHeaders sets the headers every response of an API should carry:
// no MIME sniffing, no framing, no referrer, a CSP that loads nothing.
// Install it before BodyLimit, so that a 413 carries them too.
func SecurityHeaders() echo.MiddlewareFunc {
	return middleware.SecureWithConfig(middleware.SecureConfig{
		XSSProtection:         "0",
		ContentTypeNosniff:    "nosniff",
		XFrameOptions:         "DENY",
		ReferrerPolicy:        "no-referrer",
		ContentSecurityPolicy: "default-src 'none'; frame-ancestors 'none'",
	})
}

// BodyLimit refuses request bodies over n bytes with 413, before any
// handler reads them.
func BodyLimit(n int64) echo.MiddlewareFunc {
	return middleware.BodyLimit(fmt.Sprintf("%dB", n))
}

// CORS allows the listed origins, with credentials (cookies,
// Authorization). A wildcard would give every site the user's credentials:
// it is refused.
func CORS(origins []string) (echo.MiddlewareFunc, error) {
	for _, o := range origins {
		if o == "*" || o == "" {
			return nil, fmt.Errorf("httpapi: CORS origin %q: name each origin, never *", o)
		}
	}
	return middleware.CORSWithConfig(middleware.CORSConfig{
		AllowOrigins:     origins,
		AllowMethods:     []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete},
		AllowHeaders:     []string{echo.HeaderAuthorization, echo.HeaderContentType},
		AllowCredentials: true,
		MaxAge:           600,
	}), nil
}

// TrustedProxies returns the IP extractor that believes X-Forwarded-For
// only from the given proxies (IP addresses or CIDR ranges); with none,
// the client IP is the connection's address. Echo's own default would
// believe any client's header, and every per-IP limit with it.
func TrustedProxies(proxies []string) (echo.IPExtractor, error) {
	if len(proxies) == 0 {
		return echo.ExtractIPDirect(), nil
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range proxies {
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			a, aerr := netip.ParseAddr(p)
			if aerr != nil {
				return nil, fmt.Errorf("httpapi: trusted proxy %q is neither an IP address nor a CIDR range", p)
			}
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		_, n, _ := net.ParseCIDR(pfx.Masked().String())
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...), nil
}
