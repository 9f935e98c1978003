"""`herald queue|message|claim|store`: the operator's command line, over HTTP and on stores."""
