// Sentences for the reasons a single sign-on was refused. The server's
// callback sends the browser to /login?sso_error=<code> (or /no-access);
// codes are listed in docs/api.md.

/**
 * ssoErrorMessage says why a single sign-on did not sign the user in, for
 * the code in /login?sso_error=. `provider` is the identity provider's name.
 */
export function ssoErrorMessage(code: string, provider: string): string {
  switch (code) {
    case "state":
      return "This sign-in could not be finished: it expired, was already used, or was started in another browser. Sign in again.";
    case "denied":
      return `Sign-in was cancelled at ${provider}. Sign in again if you meant to.`;
    case "provider_error":
      return `${provider} did not sign you in. Try again; if it keeps failing, ask an administrator to check coffer's log.`;
    case "unreachable":
      return `${provider} cannot be reached right now. Try again in a minute.`;
    case "exchange_refused":
      return `${provider} refused to finish this sign-in (the sign-in code was used or has expired). Sign in again.`;
    case "token_invalid":
      return `The answer from ${provider} could not be verified, so you were not signed in. Ask an administrator to check coffer's log.`;
    case "email_missing":
      return `${provider} did not send an e-mail address for your account, so coffer cannot sign you in. Ask an administrator to release the e-mail address to coffer.`;
    case "email_unverified":
      return `Your e-mail address at ${provider} is not verified. Verify it there, then sign in again.`;
    case "email_taken":
      return `A coffer account with your e-mail address exists but cannot be linked to your ${provider} account. Ask an administrator.`;
    case "disabled":
      return "Your coffer account is disabled. Ask an administrator to enable it.";
    case "no_access":
      return `None of your ${provider} groups gives access to coffer. Ask an administrator to add you to a group that has a coffer role.`;
    case "internal":
      return "coffer failed to finish the sign-in. Try again; if it keeps failing, ask an administrator to check coffer's log.";
    default:
      return "Single sign-on did not sign you in. Try again.";
  }
}
