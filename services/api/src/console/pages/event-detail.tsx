// One event: every field, redacted paths marked, the before → after diff, and Verify, which
// recomputes the RFC 8785 hash in the browser (console-client/event-verify.ts) from the event as
// rendered here, so a row altered in the database shows as a mismatch.
import { HASHED_FIELDS, type StoredEvent } from "@vigil/shared/events/event-schema";
import { diffStates, type StateDiff } from "@vigil/shared/query/state-diff";
import { type EventsPlace, resourceHref } from "./events.tsx";

function display(value: unknown): string {
  if (value === null || value === undefined) return "—";
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

export function DiffView(props: { diff: StateDiff }) {
  const { added, removed, changed } = props.diff;
  if (added.length + removed.length + changed.length === 0) return <p class="muted">No field changed.</p>;
  return (
    <table class="diff">
      <thead>
        <tr>
          <th scope="col">Field</th>
          <th scope="col">Before</th>
          <th scope="col">After</th>
        </tr>
      </thead>
      <tbody>
        {changed.map((entry) => (
          <tr class="changed" data-path={entry.path}>
            <th scope="row">{entry.path}</th>
            <td class="old">{display(entry.old)}</td>
            <td class="new">{display(entry.new)}</td>
          </tr>
        ))}
        {added.map((entry) => (
          <tr class="added" data-path={entry.path}>
            <th scope="row">{entry.path}</th>
            <td class="old">—</td>
            <td class="new">{display(entry.value)}</td>
          </tr>
        ))}
        {removed.map((entry) => (
          <tr class="removed" data-path={entry.path}>
            <th scope="row">{entry.path}</th>
            <td class="old">{display(entry.value)}</td>
            <td class="new">—</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Every hashed field but the JSON ones (shown as a diff) and `redacted` (marked), plus the hash. */
const NOT_SCALAR = new Set<string>(["before_state", "after_state", "metadata", "redacted"]);
const SCALAR_FIELDS = [...HASHED_FIELDS.filter((field) => !NOT_SCALAR.has(field)), "hash"] as const;

export interface VerificationData {
  /** The event exactly as a read returns it, plus the salt the hash commits to (when it has one). */
  event: StoredEvent & { salt?: string };
  /** HASHED_FIELDS, which the browser's canonical JSON covers (plus `salt` when the event has one). */
  hashed_fields: readonly string[];
  /** Where the browser fetches the inclusion proof and the checkpoint verifier key (not for viewers). */
  proof_url?: string;
  key_url?: string;
}

/**
 * Whose key the inclusion check trusts (console-client/event-verify.ts). A key this server hands
 * over proves nothing against its own operator, so the page shows the served key's fingerprint for
 * an out-of-band comparison and lets the user pin a verifier key in this browser.
 */
function KeyTrust() {
  return (
    <details class="key-trust" id="key-trust">
      <summary>
        Checkpoint key: <output id="key-status" data-trust="unknown" aria-live="polite" />
      </summary>
      <p>
        The inclusion check is only independent of this server when the checkpoint's signature is checked
        against a key you obtained elsewhere (your security team, the operator's published key). Compare the
        fingerprint below with that copy, or paste that copy and pin it; the pin is kept in this browser only.
      </p>
      <dl class="fields">
        <div>
          <dt>Served key</dt>
          <dd>
            <code id="served-key">—</code>
          </dd>
        </div>
        <div>
          <dt>Served key fingerprint (SHA-256)</dt>
          <dd>
            <code id="served-fingerprint">—</code>
          </dd>
        </div>
        <div>
          <dt>Pinned key</dt>
          <dd>
            <code id="pinned-key">none</code>
          </dd>
        </div>
      </dl>
      <label>
        <span>Verifier key to pin (name+keyid+base64; empty pins the served key)</span>
        <input type="text" id="pin-input" autocomplete="off" spellcheck={false} />
      </label>
      <button type="button" id="pin-button">
        Pin key
      </button>{" "}
      <button type="button" id="unpin-button">
        Forget pinned key
      </button>
    </details>
  );
}

export function EventDetail(props: {
  place: EventsPlace;
  event: StoredEvent;
  verification: VerificationData;
}) {
  const { event } = props;
  const redacted = new Set(event.redacted);
  return (
    <div class="detail">
      <p>
        <a href={resourceHref(props.place, event)}>
          History of {event.resource_type}/{event.resource_id}
        </a>
      </p>
      <section aria-labelledby="verify-heading" class="verify">
        <h2 id="verify-heading">Integrity</h2>
        <p>
          Recompute this event's SHA-256 over its RFC 8785 canonical JSON in your browser and compare it with
          the stored hash; then check that the log's latest signed checkpoint includes it.
        </p>
        <button type="button" id="verify-button" data-verification={JSON.stringify(props.verification)}>
          Verify
        </button>
        <output id="verify-result" aria-live="polite" />
        {props.verification.proof_url ? <output id="proof-result" aria-live="polite" /> : null}
        {props.verification.proof_url ? <KeyTrust /> : null}
      </section>
      <dl class="fields">
        {SCALAR_FIELDS.map((field) => (
          <div>
            <dt>{field}</dt>
            <dd>
              <code>{display(event[field])}</code>
            </dd>
          </div>
        ))}
      </dl>
      {(["before_state", "after_state", "metadata"] as const).map((field) => (
        <section aria-label={field}>
          <h2>{field}</h2>
          <pre>{display(event[field])}</pre>
        </section>
      ))}
      <section aria-labelledby="redacted-heading">
        <h2 id="redacted-heading">Redacted paths</h2>
        {redacted.size === 0 ? (
          <p class="muted">Nothing was redacted.</p>
        ) : (
          <ul class="redacted">
            {event.redacted.map((path) => (
              <li>
                <code>{path}</code> <span class="badge">[REDACTED]</span>
              </li>
            ))}
          </ul>
        )}
      </section>
      <section aria-labelledby="diff-heading">
        <h2 id="diff-heading">Changes (before_state → after_state)</h2>
        <DiffView diff={diffStates(event.before_state ?? null, event.after_state ?? null)} />
      </section>
    </div>
  );
}
