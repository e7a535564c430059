"""The quoting constitution and the checks that enforce it before an answer leaves the API."""
