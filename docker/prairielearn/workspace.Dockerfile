# PrairieLearn workspace image: PrairieLearn's JupyterLab image plus CPU PyTorch and the learner package
# (the learner wheel from `python -m course_utils release`; no references, no instructor tools).
# PrairieLearn runs workspaces as 1001:1001 on port 8080, home /home/jovyan (docs.prairielearn.com/workspaces/).
# Build from a folder holding the wheel:  docker build -f workspace.Dockerfile --build-arg WHEEL=<file> .
FROM prairielearn/workspace-jupyterlab
ARG WHEEL
USER root
COPY ${WHEEL} /tmp/
RUN python3 -m pip install --no-cache-dir torch --index-url https://download.pytorch.org/whl/cpu \
 && python3 -m pip install --no-cache-dir "/tmp/${WHEEL}" numpy matplotlib ipywidgets tqdm \
 && rm -f "/tmp/${WHEEL}"
USER jovyan
