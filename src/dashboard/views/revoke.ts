// The confirmation before a key is revoked: a modal dialog naming the key (as text).
import type { KeyView } from "../../client/admin.ts";
import { byId } from "../dom.ts";

export interface RevokeDialog {
  /** Resolves true when the operator confirms, false when they cancel or press Escape. */
  confirm(key: KeyView): Promise<boolean>;
}

export function setupRevoke(): RevokeDialog {
  const dialog = byId("revoke-dialog", HTMLDialogElement);
  const prefix = byId("revoke-prefix", HTMLElement);
  const name = byId("revoke-name", HTMLSpanElement);
  byId("revoke-cancel", HTMLButtonElement).addEventListener("click", () => dialog.close("cancel"));
  byId("revoke-confirm", HTMLButtonElement).addEventListener("click", () => dialog.close("revoke"));

  return {
    confirm(key) {
      prefix.textContent = key.prefix;
      name.textContent = key.name ?? "no name";
      dialog.returnValue = "";
      dialog.showModal();
      return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "revoke"), { once: true }));
    },
  };
}
