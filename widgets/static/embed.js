/* shopreco embed: fills [data-shopreco] placeholders with recommended products.
   <script async src="https://RECO_HOST/widgets/v1/embed.js" data-key="wk_..."></script>
   <div data-shopreco data-placement="product" data-product-id="123" data-limit="4"
        data-title="Frequently bought together"></div>
   placements: product (bought together), similar, cart (data-product-ids="1,2"),
   customer (data-customer-id), trending. No dependencies; never throws into the page. */
(function () {
  "use strict";
  var w = window, d = document;
  if (w.__shoprecoLoaded) return;
  w.__shoprecoLoaded = true;
  var script = d.currentScript || d.querySelector("script[src*='/widgets/v1/embed.js']");
  if (!script) return;
  var base = script.src.replace(/\/widgets\/v1\/embed\.js.*$/, "");
  var key = script.getAttribute("data-key") || "";

  function el(tag, cls, text) {
    var node = d.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = text;
    return node;
  }

  function price(item) {
    if (item.price == null || item.price === "") return "";
    try {
      return new Intl.NumberFormat(d.documentElement.lang || undefined,
        { style: "currency", currency: item.currency || "USD" }).format(Number(item.price));
    } catch (e) { return String(item.price); }
  }

  function query(box) {
    var p = { key: key, placement: box.getAttribute("data-placement") || "trending",
              limit: box.getAttribute("data-limit") || "4" };
    ["product-id", "product-ids", "customer-id"].forEach(function (name) {
      var v = box.getAttribute("data-" + name);
      if (v) p[name.replace("-", "_")] = v;
    });
    return Object.keys(p).map(function (k) {
      return encodeURIComponent(k) + "=" + encodeURIComponent(p[k]);
    }).join("&");
  }

  function render(box, data) {
    var list = el("ul", "shopreco-items");
    data.items.forEach(function (item) {
      var li = el("li", "shopreco-item");
      var a = el("a", "shopreco-link");
      if (item.url) a.href = item.url;
      if (item.image_url) {
        var img = el("img", "shopreco-image");
        img.src = item.image_url; img.alt = item.title || ""; img.loading = "lazy";
        a.appendChild(img);
      }
      a.appendChild(el("span", "shopreco-title", item.title || item.product_id));
      a.appendChild(el("span", "shopreco-price", price(item)));
      li.setAttribute("data-product-id", item.product_id);
      li.appendChild(a);
      list.appendChild(li);
    });
    var title = box.getAttribute("data-title");
    box.textContent = "";
    if (title) box.appendChild(el("h3", "shopreco-heading", title));
    box.appendChild(list);
    box.hidden = false;
    box.setAttribute("data-shopreco-state", "ready");
  }

  function fill(box) {
    if (box.getAttribute("data-shopreco-state")) return;
    box.setAttribute("data-shopreco-state", "loading");
    fetch(base + "/widgets/v1/recommendations?" + query(box), { credentials: "omit" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (data && data.items && data.items.length) render(box, data);
        else box.setAttribute("data-shopreco-state", "empty");
      })
      .catch(function () { box.setAttribute("data-shopreco-state", "failed"); });
  }

  function refresh() {
    try {
      Array.prototype.forEach.call(d.querySelectorAll("[data-shopreco]"), fill);
    } catch (e) { /* a recommender must never break the shop's page */ }
  }

  w.shopreco = { refresh: refresh };
  if (d.readyState === "loading") d.addEventListener("DOMContentLoaded", refresh);
  else refresh();
})();
