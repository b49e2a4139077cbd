/**
 * A small SVG writer: elements as strings with their attributes and text escaped. No DOM, no
 * browser, no network.
 * @module
 */

/** Attribute values; `undefined` leaves the attribute out. */
export type SvgAttributes = Record<string, string | number | undefined>;

/** Escapes text for an XML text node or a double-quoted attribute. */
export function escapeXml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;");
}

/** The text {@linkcode escapeXml} escaped. */
export function unescapeXml(text: string): string {
  return text.replaceAll("&quot;", '"').replaceAll("&gt;", ">").replaceAll("&lt;", "<")
    .replaceAll("&amp;", "&");
}

/**
 * One element: `children` are elements this module made (kept as they are) or, for a string
 * given as `text`, escaped text.
 *
 * @example
 * ```ts
 * element("rect", { x: 0, y: 0, width: 10, height: 4, fill: "#3b6fe0" });
 * element("text", { x: 2, y: 12 }, { text: "enqueue <bulk>" });
 * ```
 */
export function element(
  tag: string,
  attributes: SvgAttributes = {},
  content: { text: string } | readonly string[] = [],
): string {
  const attrs = Object.entries(attributes)
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => ` ${name}="${escapeXml(formatValue(value!))}"`)
    .join("");
  const inner = Array.isArray(content)
    ? content.join("")
    : escapeXml((content as { text: string }).text);
  return inner === "" ? `<${tag}${attrs}/>` : `<${tag}${attrs}>${inner}</${tag}>`;
}

/** A whole SVG document of `width` × `height` user units. */
export function svgDocument(width: number, height: number, children: readonly string[]): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n${
    element("svg", {
      xmlns: "http://www.w3.org/2000/svg",
      width,
      height,
      viewBox: `0 0 ${width} ${height}`,
      "font-family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
      "font-size": 12,
    }, children.map((child) => `\n${child}`).concat("\n"))
  }\n`;
}

function formatValue(value: string | number): string {
  return typeof value === "number" ? String(Math.round(value * 100) / 100) : value;
}
