"""The admin REST API for support staff (/admin/api): OAuth clients with admin scopes
find and inspect customers and act for them. Errors are RFC 9457 problem JSON."""
