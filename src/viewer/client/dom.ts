/**
 * Building DOM from data. Text only, never markup: every value becomes a text node or an attribute
 * value, so turn text (untrusted) always shows as text. Nothing here parses HTML.
 */

export type Child = Node | string | number | null | undefined | false;

type AttributeValue = string | number | boolean | null | undefined;

export interface Props {
  class?: string;
  dataset?: Record<string, string>;
  [attribute: string]: AttributeValue | Record<string, string>;
}

export function h<Tag extends keyof HTMLElementTagNameMap>(
  tag: Tag,
  props?: Props | null,
  children?: Child | readonly Child[],
): HTMLElementTagNameMap[Tag] {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "class") node.className = String(value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

export function append(node: Node, children?: Child | readonly Child[]): void {
  if (children === undefined) return;
  for (const child of Array.isArray(children) ? (children as readonly Child[]) : [children as Child]) {
    if (child === undefined || child === null || child === false) continue;
    node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** An element of the server-rendered shell, of the type the code expects (a missing one is a bug, said plainly). */
export function shellElement<T extends HTMLElement>(id: string, type: new () => T): T {
  const node = document.getElementById(id);
  if (!(node instanceof type)) throw new Error(`viewer: the page has no <${type.name}> #${id}`);
  return node;
}

/** A folded block of text: a <details> with a summary and a <pre>. */
export const folded = (summary: string, text: string) => h("details", null, [h("summary", null, summary), h("pre", null, text)]);
