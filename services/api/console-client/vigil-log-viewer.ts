// <vigil-log-viewer src="…viewer url from POST /api/v1/viewer-tokens…"> for a tenant's own pages:
// a custom element that frames the read-only viewer. The token stays in the iframe's URL and never
// touches the host page's cookies or storage; the viewer page's frame-ancestors (the tenant's
// viewer_origins) decides who may embed it.
class VigilLogViewer extends HTMLElement {
  static observedAttributes = ["src", "height", "title"];
  private frame: HTMLIFrameElement | null = null;

  connectedCallback(): void {
    const root = this.attachShadow({ mode: "open" });
    const frame = document.createElement("iframe");
    frame.setAttribute("referrerpolicy", "no-referrer");
    // allow-downloads: the viewer's CSV/NDJSON export links download from inside the frame.
    frame.setAttribute("sandbox", "allow-scripts allow-same-origin allow-forms allow-popups allow-downloads");
    frame.style.border = "0";
    frame.style.width = "100%";
    root.append(frame);
    this.frame = frame;
    this.sync();
  }

  attributeChangedCallback(): void {
    this.sync();
  }

  private sync(): void {
    if (!this.frame) return;
    const src = this.getAttribute("src");
    if (src && new URL(src, location.href).pathname.startsWith("/console/viewer")) this.frame.src = src;
    this.frame.title = this.getAttribute("title") ?? "Audit log";
    this.frame.style.height = `${Number(this.getAttribute("height") ?? 600) || 600}px`;
  }
}

if (!customElements.get("vigil-log-viewer")) customElements.define("vigil-log-viewer", VigilLogViewer);
