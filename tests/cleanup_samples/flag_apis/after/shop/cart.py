from shop.widgets import Widget


def total(cart, widget: Widget):
    cart.track()
    # The widget's own switch shares the name; it is no flag check.
    if widget.enabled("product_intelligence_database_event_tracking"):
        widget.show()
    return cart.total()
