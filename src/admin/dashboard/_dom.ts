/**
 * The dashboard's DOM helpers: elements by id, element builders, the toast and the confirmation
 * dialog.
 * @module
 */

/** The element with `id`; throws when the page has none. */
export function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`The page has no #${id}`);
  return node as T;
}

export type Timer = ReturnType<typeof setTimeout>;
export type Child = Node | string | null | undefined;
export type Props = Record<string, unknown>;

/** A new element: `text`, `className`, `data` (dataset), `on<event>` listeners, else attributes. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props = {},
  children: readonly Child[] = [],
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === "text") node.textContent = String(value);
    else if (key === "className") node.className = String(value);
    else if (key === "data") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value as EventListener);
    else node.setAttribute(key, String(value));
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

/** A new SVG element with its attributes and text. */
export function svg(
  tag: string,
  attrs: Record<string, string | number>,
  text?: string,
): SVGElement {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A status badge. */
export const badge = (status: string) =>
  el("span", { className: `badge s-${status}`, text: status });

/** A table row that says the table is empty. */
export const emptyRow = (columns: number, text: string) =>
  el("tr", {}, [el("td", { className: "empty", colspan: String(columns), text })]);

let toastTimer: Timer | undefined;
/** Shows `message` for 4 s. */
export function toast(message: string): void {
  const t = $("toast");
  t.textContent = message;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (t.hidden = true), 4000);
}

/** A modal confirmation; resolves true only for the confirm button. */
export function confirmAction(title: string, text: string, confirmLabel: string): Promise<boolean> {
  const dialog = $<HTMLDialogElement>("confirm");
  const yesButton = $("confirm-yes"), noButton = $("confirm-no");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  yesButton.textContent = confirmLabel;
  dialog.showModal();
  noButton.focus();
  return new Promise((resolve) => {
    const finish = (ok: boolean) => {
      yesButton.removeEventListener("click", yes);
      noButton.removeEventListener("click", no);
      dialog.removeEventListener("close", no);
      if (dialog.open) dialog.close();
      resolve(ok);
    };
    const yes = () => finish(true);
    const no = () => finish(false);
    yesButton.addEventListener("click", yes);
    noButton.addEventListener("click", no);
    dialog.addEventListener("close", no);
  });
}
