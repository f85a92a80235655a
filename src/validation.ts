// Turns a valibot issue into one sentence that names the field, for configuration errors
// and admin request bodies alike: `ROUTES[1].credits: must be a non-negative integer`.
import type { BaseIssue } from "valibot";

export function fieldPath(issue: BaseIssue<unknown>, root = ""): string {
  let path = root;
  for (const item of issue.path ?? []) {
    const key = item.key;
    if (typeof key === "number") path += `[${key}]`;
    else path += path === "" ? String(key) : `.${String(key)}`;
  }
  return path;
}

/** "<field>: <why>", or just "<why>" when the issue is about the whole value. */
export function describeIssue(issue: BaseIssue<unknown>, root = ""): string {
  const field = fieldPath(issue, root);
  // valibot reports an unknown key of a strict object at that key, expecting `never`,
  // and a missing key at that key, expecting its quoted name.
  if (issue.type === "strict_object" && issue.expected === "never") return `${field}: unknown field`;
  if (issue.kind === "schema" && issue.received === "undefined" && issue.expected?.startsWith('"')) {
    return `${field}: is required`;
  }
  return field === "" ? issue.message : `${field}: ${issue.message}`;
}
