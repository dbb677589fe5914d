// Renders /openapi.json as a readable reference, with no third-party code (the page's CSP allows
// only this origin). Everything from the document is inserted as text, never as HTML.

const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  for (const child of children) {
    if (child !== null && child !== undefined) {
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
  }
  return node;
};

const refName = (ref) => ref.replace("#/components/schemas/", "");

function schemaView(schema) {
  if (!schema) return null;
  if (schema.$ref) {
    const name = refName(schema.$ref);
    return el("a", { href: `#schema-${name}` }, name);
  }
  return el("pre", {}, JSON.stringify(schema, null, 2));
}

function operationView(path, method, op) {
  const id = `op-${op.operationId}`;
  const details = el("details", { id, "data-search": `${path} ${op.summary} ${op.tags}` });
  details.append(
    el(
      "summary",
      {},
      el("span", { class: `method ${method}` }, method.toUpperCase()),
      " ",
      el("code", {}, path),
      " ",
      op.summary,
      " ",
      el(
        "span",
        { class: "scope" },
        op["x-scope"] === "public" ? "public" : `scope: ${op["x-scope"]}`,
      ),
    ),
  );
  if (op.description) details.append(el("p", {}, op.description));
  if (op.parameters?.length) {
    const rows = op.parameters.map((p) =>
      el(
        "tr",
        {},
        el("td", {}, el("code", {}, p.name)),
        el("td", {}, p.in),
        el("td", {}, p.required ? "required" : "optional"),
        el("td", {}, p.description ?? ""),
        el("td", {}, el("code", {}, JSON.stringify(p.schema))),
      )
    );
    details.append(el("h4", {}, "Parameters"), el("table", {}, ...rows));
  }
  if (op.requestBody) {
    const [type, media] = Object.entries(op.requestBody.content)[0];
    details.append(
      el("h4", {}, `Body (${type})`),
      op.requestBody.description ? el("p", {}, op.requestBody.description) : null,
      schemaView(media.schema),
    );
  }
  const rows = Object.entries(op.responses).map(([status, response]) => {
    const [type, media] = Object.entries(response.content ?? {})[0] ?? [];
    return el(
      "tr",
      {},
      el("td", {}, el("strong", {}, status)),
      el("td", {}, response.description),
      el("td", {}, type ?? ""),
      el("td", {}, media?.schema ? schemaView(media.schema) : ""),
    );
  });
  details.append(el("h4", {}, "Responses"), el("table", {}, ...rows));
  return details;
}

async function main() {
  const response = await fetch("/openapi.json");
  const spec = await response.json();
  document.getElementById("intro").textContent = spec.info.description;
  const byTag = new Map();
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const tag = op.tags?.[0] ?? "other";
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push(operationView(path, method, op));
    }
  }
  const main = document.getElementById("operations");
  main.textContent = "";
  for (const tag of spec.tags.map((t) => t.name)) {
    const ops = byTag.get(tag);
    if (ops) main.append(el("section", {}, el("h2", {}, tag), ...ops));
  }
  const schemas = document.getElementById("schemas");
  for (const [name, schema] of Object.entries(spec.components.schemas)) {
    schemas.append(
      el("details", { id: `schema-${name}` }, el("summary", {}, name), schemaView(schema)),
    );
  }
  document.getElementById("filter").addEventListener("input", (event) => {
    const words = event.target.value.toLowerCase().split(/\s+/).filter(Boolean);
    for (const details of main.querySelectorAll("details")) {
      const text = details.dataset.search.toLowerCase();
      details.hidden = !words.every((w) => text.includes(w));
    }
  });
  // A link to a schema opens it.
  addEventListener("hashchange", () => {
    const target = document.getElementById(location.hash.slice(1));
    if (target?.tagName === "DETAILS") target.open = true;
  });
}

main().catch((error) => {
  document.getElementById("operations").textContent = `Could not load /openapi.json: ${error}`;
});
