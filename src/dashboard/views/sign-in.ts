// The sign-in form: one password field, Enter signs in. The token is tried with one
// listing call before it is kept; a refused token is said plainly and kept nowhere.
import { byId, say, show } from "../dom.ts";
import { failure } from "../format.ts";
import { adminClient, isRefusedToken } from "../shell.ts";

export interface SignInView {
  /** Shows the form, with `reason` (why the last session ended) when there is one. */
  show(reason?: string): void;
  hide(): void;
}

export function setupSignIn(onSignedIn: (token: string) => void): SignInView {
  const section = byId("sign-in-view", HTMLElement);
  const form = byId("sign-in-form", HTMLFormElement);
  const input = byId("token", HTMLInputElement);
  const error = byId("sign-in-error", HTMLParagraphElement);
  const button = form.querySelector("button")!;

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (token === "") return say(error, "Enter the admin token.");
    button.disabled = true;
    say(error, null);
    try {
      await adminClient(token).listAccounts({ limit: 1 });
      input.value = "";
      onSignedIn(token);
    } catch (problem) {
      say(error, isRefusedToken(problem) ? `The gateway refused this token: ${failure(problem)}` : failure(problem));
      input.select();
    } finally {
      button.disabled = false;
    }
  });

  return {
    show(reason) {
      say(error, reason ?? null);
      show(section, true);
      input.focus();
    },
    hide() {
      show(section, false);
      input.value = "";
    },
  };
}
