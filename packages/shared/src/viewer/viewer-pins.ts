// Filters a viewer token fixes (spec §11): every read made with such a token applies them, and a
// request that names a different value for a pinned field is refused rather than silently widened.
import type { Principal } from "../auth/principal.ts";
import { VigilError } from "../errors/vigil-error.ts";

export const VIEWER_PIN_FIELDS = ["user_id", "resource_type", "resource_id", "action"] as const;
export type ViewerPinField = (typeof VIEWER_PIN_FIELDS)[number];
export type ViewerPins = Partial<Record<ViewerPinField, string>>;

/** The pins of `principal` (none for every credential other than a viewer token). */
export function viewerPins(principal: Principal): ViewerPins {
  return principal.kind === "viewer" ? principal.pins : {};
}

/** `filter` narrowed by the principal's pins; naming another value for a pinned field is a 403. */
export function applyViewerPins<Filter extends Partial<Record<ViewerPinField, unknown>>>(
  principal: Principal,
  filter: Filter,
): Filter {
  const pins = viewerPins(principal);
  const pinned: Partial<Record<ViewerPinField, string>> = {};
  for (const field of VIEWER_PIN_FIELDS) {
    const pin = pins[field];
    if (pin === undefined) continue;
    const asked = filter[field];
    if (asked !== undefined && asked !== pin)
      throw new VigilError("FORBIDDEN", `this viewer shows only ${field} = ${pin}`, [
        { path: field, message: "is fixed by the viewer token" },
      ]);
    pinned[field] = pin;
  }
  return { ...filter, ...pinned };
}

/** Whether a stored event lies inside the principal's pins (an event outside them is a 404). */
export function eventWithinPins(
  principal: Principal,
  event: Partial<Record<ViewerPinField, unknown>>,
): boolean {
  const pins = viewerPins(principal);
  return VIEWER_PIN_FIELDS.every((field) => pins[field] === undefined || event[field] === pins[field]);
}
