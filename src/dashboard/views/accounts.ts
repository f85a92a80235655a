// The accounts: a page of the listing (GET /_gateway/accounts), a search by id prefix,
// paging by cursor, and the form that creates an account.
import type { AccountPage } from "../../client/admin.ts";
import { byId, h, say, show } from "../dom.ts";
import { count, time } from "../format.ts";
import { hashOf, type Shell } from "../shell.ts";

const PAGE_SIZE = 25;
const ACCOUNT_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;
const PREFIX = /^[a-z0-9-]{0,63}$/;
/** Typing pauses this long before the listing is asked again. */
const SEARCH_DELAY_MS = 250;

export interface AccountsView {
  show(prefix: string): void;
  hide(): void;
}

export function setupAccounts(shell: Shell): AccountsView {
  const section = byId("accounts-view", HTMLElement);
  const search = byId("search", HTMLInputElement);
  const hint = byId("search-hint", HTMLParagraphElement);
  const error = byId("accounts-error", HTMLParagraphElement);
  const rows = byId("accounts-table", HTMLTableElement).tBodies[0]!;
  const empty = byId("accounts-empty", HTMLParagraphElement);
  const unlisted = byId("open-unlisted", HTMLParagraphElement);
  const unlistedLink = byId("open-unlisted-link", HTMLAnchorElement);
  const previous = byId("previous-page", HTMLButtonElement);
  const next = byId("next-page", HTMLButtonElement);
  const createForm = byId("create-account-form", HTMLFormElement);
  const createError = byId("create-account-error", HTMLParagraphElement);

  let prefix = "";
  /** The cursor of each page seen so far; the last is the current page's (null: the first). */
  let cursors: (string | null)[] = [null];
  let nextCursor: string | null = null;
  /** Answers can arrive out of order while someone types; only the latest call's is shown. */
  let latestCall = 0;
  let searchTimer: ReturnType<typeof setTimeout> | undefined;

  async function load(): Promise<void> {
    const call = ++latestCall;
    say(error, null);
    try {
      const page = await shell.client().listAccounts({ prefix, cursor: cursors.at(-1) ?? null, limit: PAGE_SIZE });
      if (call === latestCall) render(page);
    } catch (problem) {
      if (call === latestCall) shell.fail(problem, error);
    }
  }

  function render(page: AccountPage): void {
    rows.replaceChildren(
      ...page.accounts.map((account) =>
        h(
          "tr",
          {},
          h("td", {}, h("a", { class: "mono", text: account.id, attrs: { href: hashOf({ view: "account", id: account.id }) } })),
          h("td", { text: account.plan }),
          h("td", { class: "num", text: count(account.credits) }),
          h("td", { text: time(account.created_at) }),
        ),
      ),
    );
    const first = cursors.length === 1;
    say(empty, page.accounts.length > 0 ? null : prefix === "" ? (first ? "No accounts yet." : "No more accounts.") : `No account id starts with “${prefix}”.`);
    // An exact id that is not listed may be an account from before the listing: opening it lists it.
    const exact = ACCOUNT_ID.test(prefix) && !page.accounts.some((account) => account.id === prefix);
    show(unlisted, exact && first);
    if (exact) {
      unlistedLink.textContent = `open ${prefix}`;
      unlistedLink.href = hashOf({ view: "account", id: prefix });
    }
    nextCursor = page.next_cursor;
    previous.disabled = first;
    next.disabled = nextCursor === null;
  }

  function searchFor(text: string): void {
    const wanted = text.trim().toLowerCase();
    if (!PREFIX.test(wanted)) return say(hint, "Account ids hold only the letters a–z, digits and “-”.");
    say(hint, null);
    if (wanted === prefix) return;
    prefix = wanted;
    cursors = [null];
    // The search is part of the address (never the token), so a reload keeps it.
    history.replaceState(null, "", hashOf({ view: "accounts", prefix }));
    void load();
  }

  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => searchFor(search.value), SEARCH_DELAY_MS);
  });
  search.form!.addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(searchTimer);
    searchFor(search.value);
  });
  next.addEventListener("click", () => {
    if (nextCursor === null) return;
    cursors.push(nextCursor);
    void load();
  });
  previous.addEventListener("click", () => {
    if (cursors.length === 1) return;
    cursors.pop();
    void load();
  });

  createForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const fields = new FormData(createForm);
    const id = String(fields.get("id") ?? "").trim();
    const plan = String(fields.get("plan") ?? "").trim();
    const credits = String(fields.get("credits") ?? "").trim();
    if (id === "") return say(createError, "Enter an id for the account.");
    say(createError, null);
    try {
      const account = await shell.client().createAccount({
        id,
        ...(plan !== "" && { plan }),
        ...(credits !== "" && { credits: Number(credits) }),
      });
      createForm.reset();
      shell.notify(`Created account ${account.id}.`);
      shell.open({ view: "account", id: account.id });
    } catch (problem) {
      shell.fail(problem, createError);
    }
  });

  return {
    show(wanted) {
      show(section, true);
      const normalized = PREFIX.test(wanted) ? wanted : "";
      search.value = normalized;
      say(hint, null);
      prefix = normalized;
      cursors = [null];
      void load();
    },
    hide() {
      show(section, false);
    },
  };
}
