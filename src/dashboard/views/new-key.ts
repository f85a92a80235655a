// The key just minted, shown this once with a copy button. It lives only in this panel's
// input until the operator presses Done or leaves the account: it is never stored.
import type { CreatedKey } from "../../client/admin.ts";
import { byId, show } from "../dom.ts";

export interface NewKeyPanel {
  show(key: CreatedKey): void;
  clear(): void;
}

export function setupNewKey(): NewKeyPanel {
  const panel = byId("new-key", HTMLElement);
  const prefix = byId("new-key-prefix", HTMLSpanElement);
  const value = byId("new-key-value", HTMLInputElement);
  const copy = byId("copy-key", HTMLButtonElement);
  const dismiss = byId("dismiss-key", HTMLButtonElement);
  const status = byId("copy-status", HTMLParagraphElement);

  function clear(): void {
    value.value = "";
    prefix.textContent = "";
    status.textContent = "";
    show(panel, false);
  }

  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(value.value);
      status.textContent = "Copied to the clipboard.";
    } catch {
      // No clipboard (an insecure origin, or permission refused): leave it selected instead.
      value.focus();
      value.select();
      status.textContent = "The browser refused the clipboard: the key is selected, copy it with Ctrl+C (⌘C).";
    }
  });
  dismiss.addEventListener("click", clear);

  return {
    show(key) {
      prefix.textContent = key.prefix;
      value.value = key.key;
      status.textContent = "";
      show(panel, true);
      value.focus();
      value.select();
    },
    clear,
  };
}
