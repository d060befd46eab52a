"""Scale-out tests: a Galera cluster and a PostgreSQL primary with a hot standby, throwaway."""
