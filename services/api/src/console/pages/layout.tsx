// The console's page frame: navigation, the signed-in identity, the tenant a platform admin is
// working in, and the scripts a page asks for (served from /console/assets, never inline).
import type { Child } from "hono/jsx";

export interface PageFrame {
  title: string;
  /** Navigation entry to mark as current. */
  current?: "events" | "tail" | "stats" | "admin" | "tenants";
  identity?: { label: string; tenantLabel: string | null; platformAdmin: boolean; tenantAdmin: boolean };
  csrf?: string;
  scripts?: string[];
  styles?: string[];
  /** Viewer pages: no navigation or sign-out. */
  bare?: boolean;
}

const NAV: Array<{ key: NonNullable<PageFrame["current"]>; href: string; label: string }> = [
  { key: "events", href: "/console/events", label: "Events" },
  { key: "tail", href: "/console/tail", label: "Live tail" },
  { key: "stats", href: "/console/stats", label: "Stats" },
];

export function Layout(props: PageFrame & { children?: Child }) {
  const identity = props.identity;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${props.title} · Vigil`}</title>
        <link rel="stylesheet" href="/console/assets/console.css" />
        {(props.styles ?? []).map((href) => (
          <link rel="stylesheet" href={href} />
        ))}
        {props.csrf ? <meta name="vigil-csrf" content={props.csrf} /> : null}
        {(props.scripts ?? []).map((src) => (
          <script type="module" src={src} />
        ))}
      </head>
      <body>
        <a class="skip" href="#main">
          Skip to content
        </a>
        {props.bare ? null : (
          <header class="top">
            <a class="brand" href="/console/events">
              Vigil
            </a>
            {identity ? (
              <nav aria-label="Console">
                <ul>
                  {NAV.map((item) => (
                    <li>
                      <a href={item.href} aria-current={props.current === item.key ? "page" : undefined}>
                        {item.label}
                      </a>
                    </li>
                  ))}
                  {identity.tenantAdmin ? (
                    <li>
                      <a href="/console/admin" aria-current={props.current === "admin" ? "page" : undefined}>
                        Keys &amp; users
                      </a>
                    </li>
                  ) : null}
                  {identity.platformAdmin ? (
                    <li>
                      <a
                        href="/console/tenants"
                        aria-current={props.current === "tenants" ? "page" : undefined}
                      >
                        Tenants
                      </a>
                    </li>
                  ) : null}
                </ul>
              </nav>
            ) : null}
            {identity ? (
              <div class="who">
                <span>
                  {identity.label}
                  {identity.tenantLabel ? ` · ${identity.tenantLabel}` : ""}
                </span>
                <form method="post" action="/console/sign-out">
                  <input type="hidden" name="csrf" value={props.csrf} />
                  <button type="submit">Sign out</button>
                </form>
              </div>
            ) : null}
          </header>
        )}
        <main id="main">
          <h1>{props.title}</h1>
          {props.children}
        </main>
      </body>
    </html>
  );
}

/** A problem shown to a person: what went wrong and the request id to quote. */
export function ProblemNotice(props: { title: string; detail: string; requestId: string; status: number }) {
  return (
    <div class="problem" role="alert">
      <p>
        <strong>{props.title}</strong> ({props.status}): {props.detail}
      </p>
      <p class="muted">
        request id: <code>{props.requestId}</code>
      </p>
    </div>
  );
}
