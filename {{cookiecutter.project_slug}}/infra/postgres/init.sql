-- One server, one database per component, created on the container's first start.
CREATE DATABASE mlflow;
CREATE DATABASE prefect;
CREATE DATABASE predictions;
