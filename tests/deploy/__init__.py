"""Tests of the deployment artefacts: the Helm chart and the Dockerfile."""
