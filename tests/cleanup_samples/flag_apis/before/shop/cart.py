from shop import features
from shop.features import is_on
from shop.names import TRACKING
from shop.widgets import Widget


def total(cart, widget: Widget):
    if is_on(TRACKING, cart.group):
        cart.track()
    if features.is_off(TRACKING):
        return cart.legacy_total()
    # The widget's own switch shares the name; it is no flag check.
    if widget.enabled("product_intelligence_database_event_tracking"):
        widget.show()
    return cart.total()
