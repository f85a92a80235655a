// One account: its plan and balance, its keys, its usage (views/usage.ts), its recent credit
// movements, and the admin actions on it (add credits, mint a key shown once, revoke a key after a confirmation).
import type { AccountView, KeyView } from "../../client/admin.ts";
import { byId, h, say, show } from "../dom.ts";
import { count, keyStatus, signedCount, time, usage } from "../format.ts";
import type { Shell } from "../shell.ts";
import { setupNewKey } from "./new-key.ts";
import { setupRevoke } from "./revoke.ts";
import { setupUsage } from "./usage.ts";

const ACCOUNT_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

export interface AccountPageView {
  show(id: string): void;
  hide(): void;
}

export function setupAccount(shell: Shell): AccountPageView {
  const section = byId("account-view", HTMLElement);
  const title = byId("account-id", HTMLSpanElement);
  const error = byId("account-error", HTMLParagraphElement);
  const body = byId("account-body", HTMLDivElement);
  const summary = byId("account-summary", HTMLDListElement);
  const keyRows = byId("keys-table", HTMLTableElement).tBodies[0]!;
  const keysEmpty = byId("keys-empty", HTMLParagraphElement);
  const ledgerRows = byId("ledger-table", HTMLTableElement).tBodies[0]!;
  const ledgerEmpty = byId("ledger-empty", HTMLParagraphElement);
  const creditsForm = byId("credits-form", HTMLFormElement);
  const creditsError = byId("credits-error", HTMLParagraphElement);
  const keyForm = byId("key-form", HTMLFormElement);
  const keyError = byId("key-error", HTMLParagraphElement);
  const revokeError = byId("revoke-error", HTMLParagraphElement);

  let accountId = "";
  const newKey = setupNewKey();
  const revoke = setupRevoke();
  const usageSection = setupUsage(shell);

  async function load(): Promise<void> {
    const id = accountId;
    try {
      const account = await shell.client().getAccount(id);
      if (id === accountId) render(account);
    } catch (problem) {
      if (id !== accountId) return;
      show(body, false);
      shell.fail(problem, error);
    }
  }

  function render(account: AccountView): void {
    say(error, null);
    show(body, true);
    const now = Date.now();
    summary.replaceChildren(
      ...[
        ["Plan", account.plan],
        ["Balance", `${count(account.credits)} credits`],
        ["This minute", usage(account.usage.minute)],
        ["Today (UTC)", usage(account.usage.day)],
      ].map(([label, value]) => h("div", {}, h("dt", { text: label }), h("dd", { text: value }))),
    );
    keyRows.replaceChildren(...account.keys.map((key) => keyRow(key, now)));
    show(keysEmpty, account.keys.length === 0);
    ledgerRows.replaceChildren(
      ...account.ledger.map((entry) =>
        h(
          "tr",
          {},
          h("td", { text: time(entry.at) }),
          h("td", { class: "num", text: signedCount(entry.delta) }),
          h("td", { class: "num", text: count(entry.balance) }),
          h("td", { text: entry.reason }),
          h("td", { class: "mono", text: entry.request_id ?? "—" }),
        ),
      ),
    );
    show(ledgerEmpty, account.ledger.length === 0);
    usageSection.load(account);
  }

  function keyRow(key: KeyView, now: number): HTMLTableRowElement {
    const status = keyStatus(key, now);
    const action =
      status === "active"
        ? h("button", { class: "danger small", text: "Revoke", attrs: { type: "button", "aria-label": `Revoke key ${key.prefix}` }, onClick: () => void confirmRevoke(key) })
        : null;
    return h(
      "tr",
      { attrs: { "data-key-id": key.id } },
      h("td", { class: "mono", text: key.prefix }),
      h("td", { text: key.name ?? "—" }),
      h("td", { text: key.scopes.join(", ") }),
      h("td", { text: time(key.created_at) }),
      h("td", { text: key.expires_at === null ? "never" : time(key.expires_at) }),
      h("td", {}, h("span", { class: `status status-${status}`, text: status })),
      h("td", {}, action),
    );
  }

  async function confirmRevoke(key: KeyView): Promise<void> {
    say(revokeError, null);
    if (!(await revoke.confirm(key))) return;
    try {
      const revoked = await shell.client().revokeKey(accountId, key.id);
      shell.notify(`Revoked key ${revoked.prefix}: it is refused from now on.`);
      await load();
    } catch (problem) {
      shell.fail(problem, revokeError);
    }
  }

  creditsForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const fields = new FormData(creditsForm);
    const amountText = String(fields.get("amount") ?? "").trim();
    const reason = String(fields.get("reason") ?? "").trim();
    const amount = Number(amountText);
    if (!/^[+-]?\d+$/.test(amountText) || amount === 0) return say(creditsError, "Enter a whole number of credits other than 0.");
    say(creditsError, null);
    try {
      const { balance } = await shell.client().adjustCredits(accountId, { amount, ...(reason !== "" && { reason }) });
      creditsForm.reset();
      shell.notify(`${signedCount(amount)} credits: the balance is now ${count(balance)}.`);
      await load();
    } catch (problem) {
      shell.fail(problem, creditsError);
    }
  });

  keyForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const fields = new FormData(keyForm);
    const scopes = String(fields.get("scopes") ?? "")
      .split(/[\s,]+/)
      .filter((scope) => scope !== "");
    const name = String(fields.get("name") ?? "").trim();
    const expires = String(fields.get("expires") ?? "");
    if (scopes.length === 0) return say(keyError, "Name at least one scope, e.g. read, write.");
    const expiresAt = expires === "" ? undefined : new Date(expires);
    if (expiresAt !== undefined && Number.isNaN(expiresAt.getTime())) return say(keyError, "The expiry is not a date and time.");
    say(keyError, null);
    try {
      const created = await shell.client().createKey(accountId, {
        scopes,
        ...(name !== "" && { name }),
        ...(expiresAt !== undefined && { expires_at: expiresAt.toISOString().replace(/\.\d{3}Z$/, "Z") }),
      });
      keyForm.reset();
      newKey.show(created);
      await load();
    } catch (problem) {
      shell.fail(problem, keyError);
    }
  });

  return {
    show(id) {
      accountId = id;
      title.textContent = id;
      show(section, true);
      show(body, false);
      newKey.clear();
      usageSection.clear();
      for (const element of [creditsError, keyError, revokeError]) say(element, null);
      if (!ACCOUNT_ID.test(id)) return say(error, "That is not an account id: ids are 1–63 characters of a–z, 0–9 and “-”.");
      say(error, null);
      void load();
    },
    hide() {
      show(section, false);
      // The key shown once must not linger on a page the operator has left.
      newKey.clear();
      usageSection.clear();
      accountId = "";
    },
  };
}
