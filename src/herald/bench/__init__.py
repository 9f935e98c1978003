"""`herald bench`: a load generator for any server speaking the Zaqar v2 HTTP API."""
