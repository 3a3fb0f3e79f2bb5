/* shopreco embed: recommendation widgets. No dependencies; never throws into the page.
   Usage, placements, the command queue and theming: README.md, "Storefront widgets". */
((w, d) => {
  const old = w.shopreco;
  if (old && old.loaded) return;
  const safe = (f) => function () { try { return f.apply(this, arguments); } catch {} };
  try {
  const script = d.currentScript || d.querySelector("script[src*='/widgets/v1/embed.js']");
  const sa = (n) => (script && script.getAttribute("data-" + n)) || "";
  const cfg = {
    key: sa("key"), platform: sa("platform"), customerId: sa("customer-id"),
    locale: sa("locale"), currency: sa("currency"),
    base: script ? script.src.replace(/\/widgets\/v1\/embed\.js.*$/, "") : ""
  };
  const L = {
    add: "Add to cart", addAll: "Add all to cart", added: "Added", total: "Total: ",
    include: "Include ", thisItem: "This item: ", prev: "Previous", next: "Next",
    bundle: "Frequently bought together", also_bought: "Customers also bought",
    similar: "You may also like", cart: "Complete your order", thank_you: "Picked for you",
    home: "Recommended for you", trending: "Trending now", buy_again: "Buy it again",
    recently_viewed: "Recently viewed", inspired_by_browsing: "Inspired by your browsing"
  };
  L.product = L.bundle;
  L.customer = L.thank_you;
  const PERSONAL = /^(home|buy_again|thank_you|cart|customer)$/;
  const BUNDLE = /^(bundle|product)$/;
  let visitor, known, queue = [], timer = 0, seq = 0;
  const seen = {};

  const h = (tag, cls, text) => {
    const n = d.createElement(tag);
    if (cls) n.className = cls;
    if (text != null) n.textContent = text;
    return n;
  };
  const put = (parent, ...kids) => { kids.forEach((k) => parent.appendChild(k)); return parent; };
  const on = (el, type, f) => el.addEventListener(type, safe(f));
  const attr = (el, n) => el.getAttribute(n) || el.getAttribute("data-" + n) || "";
  const state = (el, s) => el.setAttribute("data-shopreco-state", s);
  const rid = () => Array.from(crypto.getRandomValues(new Uint8Array(16)),
    (x) => (x + 256).toString(16).slice(1)).join("");
  const link = (u) => {
    if (!u) return "";
    try {
      const x = new URL(u, location.href);
      return /^https?:$/.test(x.protocol) ? x.href : "";
    } catch { return ""; }
  };
  const money = (v, cur, loc) => {
    if (v == null || v === "" || isNaN(v)) return "";
    try {
      return new Intl.NumberFormat(loc || undefined, { style: "currency", currency: cur }).format(+v);
    } catch { return String(v); }
  };

  // tracking: batched; sendBeacon (text/plain) or fetch keepalive
  const visitorId = () => {
    if (!visitor) {
      try {
        visitor = localStorage.getItem("shopreco_vid");
        if (!visitor) localStorage.setItem("shopreco_vid", (visitor = rid()));
      } catch {}
      visitor = visitor || rid();
    }
    return visitor;
  };
  const flush = safe(() => {
    clearTimeout(timer);
    timer = 0;
    while (queue.length && cfg.key) {
      const url = cfg.base + "/widgets/v1/events?key=" + encodeURIComponent(cfg.key);
      const body = JSON.stringify({ visitor_id: visitorId(),
        customer_id: cfg.customerId || known || null, events: queue.splice(0, 40) });
      let sent = false;
      try { sent = navigator.sendBeacon(url, body); } catch {}
      if (!sent) {
        fetch(url, { method: "POST", body, keepalive: true, credentials: "omit",
          headers: { "Content-Type": "text/plain" } }).catch(() => {});
      }
    }
  });
  const track = (type, ctx, pid, now) => {
    if (sa("track") === "off") return; // a preview (the owner's admin): nothing counted
    queue.push({ id: rid(), type, placement: ctx.placement, product_id: String(pid),
      model_version: ctx.version || null, at: Date.now(), experiment: ctx.e,
      arm: ctx.a });
    if (now) flush();
    else timer = timer || setTimeout(flush, 1000);
  };
  const view = (pid) => pid && !seen[pid] && track("product_view", {}, seen[pid] = pid);
  const IO = w.IntersectionObserver;
  const viewer = IO && new IO(safe((entries) => entries.forEach((e) => {
    if (!e.isIntersecting || e.intersectionRatio < 0.5) return;
    viewer.unobserve(e.target);
    const [ctx, pid] = e.target._srView, k = ctx.placement + "\n" + pid;
    if (!seen[k]) { seen[k] = 1; track("impression", ctx, pid); }
  })), { threshold: 0.5 });

  const post = (url, body) => fetch(url, { method: "POST", body, credentials: "same-origin",
    headers: typeof body == "string" ? { "Content-Type": "application/json" } : {} })
    .then((r) => { if (!r.ok) throw r.status; });
  const fire = (el, name, detail) =>
    el.dispatchEvent(new CustomEvent(name, { bubbles: true, composed: true, detail }));
  const addToCart = (el, ctx, items, btn) => {
    const p = cfg.platform.toLowerCase();
    const id = (i) => {
      const v = String(i.variant_id || i.product_id);
      return /^\d{1,15}$/.test(v) ? +v : v;
    };
    const detail = { placement: ctx.placement, items: items.map((i) =>
      ({ product_id: String(i.product_id), quantity: 1, price: i.price == null ? null : i.price })) };
    let done;
    btn.disabled = true;
    if (p === "shopify") {
      const root = (w.Shopify && w.Shopify.routes && w.Shopify.routes.root) || "/";
      done = post(root + "cart/add.js", JSON.stringify({ items: items.map((i) =>
        ({ id: id(i), quantity: 1 })) }));
    } else if (p === "woocommerce") {
      done = items.reduce((prev, i) => prev.then(() => post("/?wc-ajax=add_to_cart",
        new URLSearchParams({ product_id: i.product_id, quantity: 1 }))), Promise.resolve());
    } else {
      done = Promise.resolve(fire(el, "shopreco:add-to-cart", detail));
    }
    done.then(() => {
      if (p === "shopify" || p === "woocommerce") fire(el, "shopreco:added-to-cart", detail);
      items.forEach((i) => i.self || track("add_to_cart", ctx, i.product_id));
      flush();
      btn.textContent = L.added;
    }).catch(() => { btn.disabled = false; });
  };

  // rendering: open shadow root, themed with --shopreco-* properties
  const V = (n, v) => `var(--shopreco-${n},${v})`;
  const ACC = V("accent", "#2f6f5e"), R = V("radius", "8px"), BD = `1px solid ${V("border", "#0002")}`;
  const CSS = `:host{display:block;font-family:${V("font", "inherit")};color:${V("text", "inherit")}}
*{box-sizing:border-box}h2{font-size:${V("heading-size", "1.25em")};margin:0 0 .6em}
ul{list-style:none;margin:0;padding:4px 2px}.x{display:flex;align-items:center;gap:8px}
.row{display:grid;grid-auto-flow:column;grid-auto-columns:minmax(${V("card-width", "160px")},1fr);gap:${V("gap", "14px")};overflow-x:auto;scroll-snap-type:x mandatory}
.row>li{scroll-snap-align:start;display:flex;flex-direction:column;gap:6px;padding:8px;background:${V("card-bg", "#fff")};border:${BD};border-radius:${R}}
a{color:inherit;text-decoration:none;display:flex;flex-direction:column;gap:6px}a:hover .t{text-decoration:underline}
img{width:100%;height:${V("image-size", "140px")};object-fit:contain}
.t{display:-webkit-box;-webkit-line-clamp:2;-webkit-box-orient:vertical;overflow:hidden;line-height:1.3;height:2.6em}
.p{font-weight:700;color:${V("price", ACC)}}
button{font:inherit;cursor:pointer;border:0;border-radius:${R};background:${ACC};color:${V("accent-text", "#fff")};padding:.5em 1em}
button:disabled{opacity:.6}:focus-visible{outline:2px solid ${ACC}}.x>ul{flex:1}
.nav{background:none;color:inherit;border:${BD};font-size:1.3em}
.b li{padding:6px 0;border-bottom:${BD}}.b a{flex-direction:row;align-items:center;flex:1}
.b .t{height:auto;flex:1}.b img{width:56px;height:56px}input{width:1.2em;height:1.2em;accent-color:${ACC}}
.vh{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%)}`;

  const card = (it, ctx, fmt, price) => {
    const li = h("li"), url = link(it.url), img = link(it.image_url), a = h("a");
    li.setAttribute("data-product-id", it.product_id);
    li.setAttribute("part", "item");
    if (url) a.href = url;
    if (img) {
      const im = put(a, h("img")).lastChild;
      Object.assign(im, { src: img, alt: "", loading: "lazy", width: 140, height: 140 });
    }
    put(li, put(a, h("span", "t", it.title || it.product_id)));
    on(a, "click", () => track("click", ctx, it.product_id, 1));
    li._srView = [ctx, it.product_id];
    if (viewer) viewer.observe(li);
    if (price) put(li, h("span", "p", fmt(it)));
    return li;
  };

  const bundle = (el, ctx, o, data, fmt, sec) => {
    const list = h("ul", "b"), picks = [], total = h("strong"), btn = h("button", "", L.addAll);
    const self = data.product || (o.title || o.price ? { product_id: o.productId, title: o.title,
      price: o.price || null, variant_id: o.variantId || null } : null);
    const update = safe(() => {
      let sum = 0, n = 0;
      picks.forEach((p) => { if (p.box.checked) { n++; sum += +(p.item.price || 0); } });
      total.textContent = money(sum, fmt.cur, fmt.loc) || String(sum);
      btn.disabled = !n;
      btn.textContent = L.addAll;
    });
    (self ? [self] : []).concat(data.items).forEach((it, i) => {
      const mine = self && !i, li = mine ? h("li") : card(it, ctx, fmt), box = h("input");
      li.className = "x";
      box.type = "checkbox";
      box.checked = true;
      on(box, "change", update);
      li.insertBefore(put(h("label"), box, h("span", "vh", L.include + (it.title || it.product_id))),
        li.firstChild);
      if (mine) {
        it.self = 1;
        li.setAttribute("data-product-id", it.product_id);
        put(li, h("span", "t", L.thisItem + (it.title || "")));
      }
      put(list, put(li, h("span", "p", fmt(it))));
      picks.push({ box, item: it });
    });
    const tp = put(h("p"), d.createTextNode(L.total), total);
    tp.setAttribute("aria-live", "polite");
    on(btn, "click", () => addToCart(el, ctx, picks.filter((p) => p.box.checked)
      .map((p) => p.item), btn));
    put(sec, list, put(h("div", "x"), tp, btn));
    update();
  };

  const row = (el, ctx, o, data, fmt, sec) => {
    const list = h("ul", "row");
    list.setAttribute("role", "list");
    data.items.forEach((it) => {
      const li = put(list, card(it, ctx, fmt, 1)).lastChild;
      if (/^(cart|buy_again)$/.test(ctx.placement)) {
        const b = put(li, h("button", "", L.add)).lastChild;
        on(b, "click", () => addToCart(el, ctx, [it], b));
      }
    });
    if (!/^(also_bought|similar)$/.test(o.placement)) return put(sec, list);
    const prev = h("button", "nav", "\u2039"), next = h("button", "nav", "\u203a");
    list.tabIndex = 0;
    prev.setAttribute("aria-label", L.prev);
    next.setAttribute("aria-label", L.next);
    const ends = safe(() => {
      prev.disabled = list.scrollLeft < 8;
      next.disabled = list.scrollLeft + list.clientWidth > list.scrollWidth - 8;
    });
    on(prev, "click", () => list.scrollBy({ left: -0.8 * list.clientWidth }));
    on(next, "click", () => list.scrollBy({ left: 0.8 * list.clientWidth }));
    list.addEventListener("scroll", ends, { passive: true });
    put(sec, put(h("div", "x"), prev, list, next));
    setTimeout(ends);
  };

  const empty = (el) => !el.children.length && !el.textContent.trim();
  const fail = (el, s) => {
    state(el, s);
    if (el.shadowRoot) el.shadowRoot.textContent = "";
    if (empty(el)) el.hidden = true; // the shop's own fallback content stays
    el.style.minHeight = "";
  };

  const render = (el, o, data) => {
    const ctx = { placement: data.placement || o.placement, version: data.model_version,
      e: data.experiment, a: data.arm };
    const loc = cfg.locale || data.locale || d.documentElement.lang;
    const fmt = (it) => money(it.price, it.currency || fmt.cur, loc);
    fmt.cur = data.currency || cfg.currency || data.items[0].currency;
    fmt.loc = loc;
    const root = el.shadowRoot || el.attachShadow({ mode: "open" });
    const sec = h("section"), hd = h("h2", "", o.heading || (o.placement === "home" &&
      /trend/.test(data.strategy) ? L.trending : L[o.placement] || L.trending));
    hd.id = "h";
    sec.setAttribute("aria-labelledby", "h");
    sec.setAttribute("part", "section");
    put(sec, hd);
    (BUNDLE.test(o.placement) ? bundle : row)(el, ctx, o, data, fmt, sec);
    root.textContent = "";
    put(root, h("style", "", CSS), sec);
    el.hidden = false;
    el.style.minHeight = "";
    state(el, "ready");
  };

  const opts = (el) => {
    const o = {
      placement: attr(el, "placement") || (el.getAttribute("data-shopreco") || "").trim() ||
        "trending",
      productId: attr(el, "product-id"), productIds: attr(el, "product-ids"),
      customerId: attr(el, "customer-id"), limit: attr(el, "limit") || "4",
      heading: attr(el, "heading") || el.getAttribute("data-title"),
      title: attr(el, "product-title"), price: attr(el, "product-price"),
      variantId: attr(el, "variant-id")
    };
    if (!o.customerId && PERSONAL.test(o.placement)) o.customerId = cfg.customerId;
    known = known || o.customerId;
    return o;
  };

  const load = (el) => {
    const o = opts(el), n = (el._srSeq = ++seq);
    const q = { key: cfg.key, placement: o.placement, limit: o.limit, product_id: o.productId,
      product_ids: o.productIds, customer_id: o.customerId,
      visitor_id: visitorId() };
    el._srLoaded = 1;
    if (!cfg.key || !w.fetch) return fail(el, "failed");
    if (el.getAttribute("data-shopreco-state") !== "ready") state(el, "loading");
    const qs = new URLSearchParams(Object.entries(q).filter((e) => e[1]));
    fetch(cfg.base + "/widgets/v1/recommendations?" + qs, { credentials: "omit" })
      .then((r) => (r.ok ? r.json() : null))
      .then((data) => {
        if (n !== el._srSeq) return;
        if (data && data.items && data.items.length) render(el, o, data);
        else fail(el, data ? "empty" : "failed");
      })
      .catch(safe(() => fail(el, "failed")));
  };

  const lazy = IO && new IO(safe((entries) => entries.forEach((e) => {
    if (e.isIntersecting) { lazy.unobserve(e.target); load(e.target); }
  })), { rootMargin: "200px 0px" });

  const fill = (el) => {
    if (el._sr) return;
    el._sr = 1;
    state(el, "waiting");
    const o = opts(el);
    view(o.productId);
    // reserve about the rendered height, unless the shop's CSS already reserves space
    if (!(parseFloat(getComputedStyle(el).minHeight) > 0)) {
      el.style.minHeight = (BUNDLE.test(o.placement) ? 62 + 69 * (+o.limit + !!(o.title || o.price))
        : /^(cart|buy_again)$/.test(o.placement) ? 316 : 275) + "px";
    }
    if (lazy) lazy.observe(el);
    else load(el);
  };

  const scan = () => d.querySelectorAll("[data-shopreco]").forEach(safe(fill));
  const ready = (f) => {
    if (d.readyState === "loading") d.addEventListener("DOMContentLoaded", safe(f));
    else f();
  };
  const api = {
    config: (c) => { Object.assign(cfg, c); Object.assign(L, c.labels); },
    refresh: () => ready(scan),
    flush,
    view,
    render: (target, options) => ready(safe(() => {
      const el = typeof target === "string" ? d.querySelector(target) : target;
      if (!el) return;
      for (const k in options) {
        el.setAttribute("data-" + k.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase()), options[k]);
      }
      if (!el.hasAttribute("data-shopreco")) el.setAttribute("data-shopreco", "");
      (el._srLoaded ? load : fill)(el);
    })),
    push: (cmd) => {
      if (typeof cmd === "function") return cmd(api);
      if (cmd && cmd[0] !== "push" && api[cmd[0]]) api[cmd[0]](...cmd.slice(1));
    }
  };
  for (const k in api) api[k] = safe(api[k]);
  api.loaded = true;
  w.shopreco = api;
  if (old && old.length) Array.from(old).forEach(api.push);

  put(d.head || d.documentElement,
    h("style", "", "shopreco-recommendations:not([hidden]){display:block}"));
  if (w.customElements && !customElements.get("shopreco-recommendations")) {
    customElements.define("shopreco-recommendations", class extends HTMLElement {
      static get observedAttributes() {
        return ["placement", "product-id", "product-ids", "customer-id", "limit"];
      }
      connectedCallback() { try { fill(this); } catch {} }
      attributeChangedCallback() { try { if (this._srLoaded) load(this); } catch {} }
    });
  }
  w.addEventListener("pagehide", flush);
  d.addEventListener("visibilitychange", () => d.visibilityState === "hidden" && flush());
  ready(scan);
  } catch {}
})(window, document);
