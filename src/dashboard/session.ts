// The admin token lives in this tab's session storage and nowhere else: not in a cookie (it
// would ride along on every request), not in localStorage (it would outlive the tab), never
// in a URL (it would reach history and logs). Closing the tab forgets it.

const TOKEN_KEY = "tollgate.admin-token";

export function savedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function saveToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}
