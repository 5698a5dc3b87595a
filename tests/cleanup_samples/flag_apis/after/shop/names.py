TRACKING = "product_intelligence_database_event_tracking"
