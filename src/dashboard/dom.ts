// The page's only way to put anything on screen: elements built with createElement and
// filled with textContent. There is no HTML string anywhere in the dashboard, so a name or
// a reason such as `<img src=x onerror=alert(1)>` can only ever show as those characters
// (and the page's CSP enforces Trusted Types, which would refuse an HTML string anyway).

type Child = Node | string | null | undefined | false;

export interface Props {
  class?: string;
  /** Set as textContent: never parsed. */
  text?: string;
  title?: string;
  /** Attributes (never event handlers or style: those are not attributes here). */
  attrs?: Record<string, string>;
  onClick?: () => void;
}

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (props.class !== undefined) element.className = props.class;
  if (props.title !== undefined) element.title = props.title;
  for (const [name, value] of Object.entries(props.attrs ?? {})) {
    if (/^on/i.test(name) || name.toLowerCase() === "style") throw new Error(`refusing to set the attribute ${name}`);
    element.setAttribute(name, value);
  }
  if (props.onClick !== undefined) element.addEventListener("click", props.onClick);
  if (props.text !== undefined) element.textContent = props.text;
  for (const child of children) if (child !== null && child !== undefined && child !== false) element.append(child);
  return element;
}

/** The element with this id, of this type; a missing one is a bug in index.html. */
export function byId<T extends HTMLElement>(id: string, type: new () => T): T {
  const element = document.getElementById(id);
  if (!(element instanceof type)) throw new Error(`index.html has no <${type.name}> #${id}`);
  return element;
}

export function show(element: HTMLElement, visible: boolean): void {
  element.hidden = !visible;
}

/** Text in an element, or the element hidden when there is none. */
export function say(element: HTMLElement, text: string | null): void {
  element.textContent = text ?? "";
  element.hidden = text === null;
}
