// The operator dashboard's entry (SPEC 13): signs in, then shows the accounts or one account
// by the location hash (`#/`, `#/?prefix=ac`, `#/accounts/acme`). It talks to this gateway's
// admin API and nothing else, through the admin client the CLI uses too.
import type { AdminClient } from "../client/admin.ts";
import { byId, say } from "./dom.ts";
import { failure } from "./format.ts";
import { forgetToken, saveToken, savedToken } from "./session.ts";
import { adminClient, hashOf, isRefusedToken, reportFailure, routeFromHash, type Route, type Shell } from "./shell.ts";
import { setupAccount } from "./views/account.ts";
import { setupAccounts } from "./views/accounts.ts";
import { setupSignIn } from "./views/sign-in.ts";

const notice = byId("notice", HTMLParagraphElement);
const signOutButton = byId("sign-out", HTMLButtonElement);
/** Confirmations fade after a while; errors stay beside the form they belong to. */
const NOTICE_MS = 8_000;
let noticeTimer: ReturnType<typeof setTimeout> | undefined;

let client: AdminClient | null = null;
/** The hash the page itself is moving to: its confirmation outlives that move. */
let movingTo: string | null = null;

const shell: Shell = {
  client() {
    if (client === null) throw new Error("not signed in");
    return client;
  },
  fail(error, where) {
    if (isRefusedToken(error)) return signOut(`The gateway refused the token: ${failure(error)}`);
    reportFailure(error, where);
  },
  notify(text) {
    say(notice, text);
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => say(notice, null), NOTICE_MS);
  },
  open(route) {
    const hash = hashOf(route);
    if (location.hash === hash) return render(route);
    movingTo = hash;
    location.hash = hash; // hashchange renders it
  },
};

const signIn = setupSignIn((token) => {
  saveToken(token);
  client = adminClient(token);
  render(routeFromHash(location.hash));
});
const accounts = setupAccounts(shell);
const account = setupAccount(shell);

function render(route: Route): void {
  accounts.hide();
  account.hide();
  if (client === null) {
    signOutButton.hidden = true;
    return signIn.show();
  }
  signIn.hide();
  signOutButton.hidden = false;
  if (route.view === "account") account.show(route.id);
  else accounts.show(route.prefix);
}

function signOut(reason?: string): void {
  forgetToken();
  client = null;
  render(routeFromHash(location.hash));
  if (reason !== undefined) signIn.show(reason);
}

signOutButton.addEventListener("click", () => {
  say(notice, null);
  signOut();
});
window.addEventListener("hashchange", () => {
  // A confirmation belongs to the page it was given on, or to the one the page moved to.
  if (location.hash !== movingTo) say(notice, null);
  movingTo = null;
  render(routeFromHash(location.hash));
});

const token = savedToken();
client = token === null ? null : adminClient(token);
render(routeFromHash(location.hash));
