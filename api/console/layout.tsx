/** @jsxImportSource hono/jsx */
/**
 * The console's frame: head (one stylesheet, one deferred script, no inline script), the navigation and the
 * sign-in box. The API key lives in the tab's sessionStorage and is sent as `Authorization: Bearer`; the server
 * never sees it in a URL or a cookie.
 */
import type { Child } from "hono/jsx";

export const CONSOLE_PAGES = [
  { path: "/console/models", label: "Models" },
  { path: "/console/datasets", label: "Datasets" },
  { path: "/console/edits", label: "Edits" },
  { path: "/console/compare", label: "Compare" },
  { path: "/console/webhooks", label: "Webhooks" },
  { path: "/console/toxicity", label: "Toxicity" },
] as const;

export function Layout(props: { title: string; page: string; children?: Child }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{props.title} — profs console</title>
        <link rel="stylesheet" href="/console/static/console.css" />
        <script src="/console/static/console.js" defer></script>
      </head>
      <body data-page={props.page}>
        <header class="top">
          <a class="brand" href="/console">profs</a>
          <nav aria-label="Console pages">
            <ul>
              {CONSOLE_PAGES.map((p) => (
                <li key={p.path}>
                  <a href={p.path} aria-current={p.path.endsWith(`/${props.page}`) ? "page" : undefined}>
                    {p.label}
                  </a>
                </li>
              ))}
              <li>
                <a href="/docs">API reference</a>
              </li>
            </ul>
          </nav>
          <form id="signin" class="signin" autocomplete="off">
            <label for="api-key">API key</label>
            <input id="api-key" name="api-key" type="password" placeholder="paste your key" />
            <button type="submit" id="signin-button">Sign in</button>
            <button type="button" id="signout-button" hidden>Sign out</button>
            <span id="signin-status" role="status" aria-live="polite"></span>
          </form>
        </header>
        <main id="main">
          <h1>{props.title}</h1>
          {props.children}
        </main>
      </body>
    </html>
  );
}

/** One labelled input with its one-line explanation (tied to it with aria-describedby). */
export function Field(
  props: { id: string; label: string; help?: string; children: Child },
) {
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      {props.children}
      {props.help ? <small id={`${props.id}-help`}>{props.help}</small> : null}
    </div>
  );
}
