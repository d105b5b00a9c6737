# PrairieLearn grading image for this course (public-safe: no course package, references or hidden checks;
# those reach each job through serverFilesCourse/course_grader). Build and push it, then name it in
# externalGradingOptions.image (python -m course_utils prairielearn --grader-image NAME).
FROM python:3.12-slim
ENV PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
# Installed under /usr/local, world-readable, so the kernel's own unprivileged uid can import it.
RUN python -m pip install torch --index-url https://download.pytorch.org/whl/cpu \
 && python -m pip install numpy matplotlib ipywidgets tqdm \
      "nbformat>=5.9" "nbclient>=0.9" "nbval==0.11.0" "pytest>=7" "ipykernel>=6" \
 && python -m ipykernel install --name python3 \
 && chmod -R a+rX /usr/local
# The grader runs as root (kernels get a uid of their own); nothing is fetched at grading time.
WORKDIR /grade
