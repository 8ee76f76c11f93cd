// log()'s timestamp: `new Date(now).toISOString()`, with the date and time formatted once per
// second and only the milliseconds per call (log() stamps every event; a burst shares the second).

let isoSecond = Number.NaN;
let isoPrefix = "";

/** Exactly `new Date(now).toISOString()` for an integer `now` (Date.now()). */
export function isoTime(now: number): string {
  const second = Math.floor(now / 1000);
  if (second !== isoSecond) {
    isoPrefix = new Date(second * 1000).toISOString().slice(0, -4); // "2026-12-07T13:12:04."
    isoSecond = second;
  }
  const millis = now - second * 1000;
  return `${isoPrefix}${millis < 10 ? "00" : millis < 100 ? "0" : ""}${millis}Z`;
}
