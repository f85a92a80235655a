// The Worker entry: the fetch handler and the Durable Object classes. Nothing else.
import { handleRequest } from "./gateway.ts";

export { AccountDO } from "./account/account-do.ts";
export { AccountDirectory } from "./directory/directory-do.ts";

export default {
  fetch: handleRequest,
} satisfies ExportedHandler<Env>;
