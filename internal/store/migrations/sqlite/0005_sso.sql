-- Single sign-on (OpenID Connect, docs/sso.md).
--
-- user_identities links a user to their subject at an identity provider, so
-- that a later e-mail change at the provider finds the same user. A user has
-- at most one identity per provider.
CREATE TABLE user_identities (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issuer     TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (issuer, subject),
    UNIQUE (user_id, issuer)
);

-- oidc_logins are sign-ins started and not yet finished: the SHA-256 of the
-- state sent to the provider, the SHA-256 of the cookie that binds the
-- sign-in to the browser that started it, the nonce and PKCE verifier, and
-- where to go after. A callback takes (deletes) its row, so each is used once.
CREATE TABLE oidc_logins (
    state_hash    TEXT    PRIMARY KEY,
    browser_hash  TEXT    NOT NULL,
    nonce         TEXT    NOT NULL,
    code_verifier TEXT    NOT NULL,
    next_path     TEXT    NOT NULL DEFAULT '/',
    expires_at    INTEGER NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX oidc_logins_expires_at_idx ON oidc_logins (expires_at);

-- Until when a password sign-in works although COFFER_LOCAL_LOGIN is false
-- (set by `coffer users reset-password`: the break-glass window).
ALTER TABLE users ADD COLUMN password_login_until INTEGER;
