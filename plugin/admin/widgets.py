"""The admin's Widgets page: the snippets to paste per platform and placement, and the
theming variables with a live preview of a real widget in the owner's colours (the preview
counts nothing: its script tag has data-track="off")."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from plugin.admin import sessions
from plugin.admin.pages import owner_page, render
from plugin.store.shops import get_shop

# (placement, where it goes, the placeholder's attributes with example values)
SNIPPETS = (
    ("bundle", "product page", 'data-product-id="PRODUCT_ID"'),
    ("also_bought", "product page", 'data-product-id="PRODUCT_ID"'),
    ("cart", "cart page", 'data-product-ids="ID1,ID2"'),
    ("thank_you", "thank-you page", 'data-product-ids="ID1,ID2" data-customer-id="CUSTOMER_ID"'),
    ("home", "home page", ""),
    ("buy_again", "account or home page", 'data-customer-id="CUSTOMER_ID"'),
    ("recently_viewed", "any page", ""),
    ("inspired_by_browsing", "home or product page", ""),
)
# (CSS variable, label, input type, default)
THEME = (
    ("--shopreco-accent", "Buttons, prices and focus", "color", "#0b5cad"),
    ("--shopreco-text", "Text", "color", "#1a1a1a"),
    ("--shopreco-card-bg", "Card background", "color", "#ffffff"),
    ("--shopreco-border", "Card border", "color", "#d5d5d5"),
)


@owner_page
async def widgets_page(request: Request, session: sessions.Session) -> Response:
    shop = await get_shop(request.app.state.redis, session.shop_id)
    base = request.app.state.settings.public_url.rstrip("/")
    return render(request, "widgets.html", {
        "shop": shop, "session": session, "base": base, "snippets": SNIPPETS, "theme": THEME,
        "platforms": ("shopify", "woocommerce", "custom"),
    })
