// Reaching the account directory: one object for the whole gateway, by a fixed name.
import type { AccountDirectory } from "./directory-do.ts";

const DIRECTORY_NAME = "accounts";

export function directoryStub(env: Env): DurableObjectStub<AccountDirectory> {
  return env.DIRECTORY.getByName(DIRECTORY_NAME);
}
