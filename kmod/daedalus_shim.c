// SPDX-License-Identifier: GPL-2.0
/*
 * One-line wrappers of static inline functions and macros that Rust cannot call directly.
 * No logic lives here: every decision is in daedalus_main.rs and core/.
 */
#include <linux/err.h>
#include <linux/jiffies.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/platform_device.h>
#include <linux/dma-buf.h>
#include <media/v4l2-ctrls.h>
#include <media/v4l2-mem2mem.h>
#include <media/videobuf2-v4l2.h>

#include "daedalus_shim.h"

/* dma_buf_put and the vb2 dmabuf exporters live in the DMA_BUF symbol namespace. */
MODULE_IMPORT_NS(DMA_BUF);

void daedalus_shim_mutex_init(struct mutex *lock) { mutex_init(lock); }
void *daedalus_shim_vb2_get_drv_priv(struct vb2_queue *q) { return vb2_get_drv_priv(q); }
struct vb2_v4l2_buffer *daedalus_shim_to_vb2_v4l2_buffer(struct vb2_buffer *vb) { return to_vb2_v4l2_buffer(vb); }
void daedalus_shim_vb2_set_plane_payload(struct vb2_buffer *vb, unsigned int plane, unsigned long size) { vb2_set_plane_payload(vb, plane, size); }
unsigned long daedalus_shim_vb2_plane_size(struct vb2_buffer *vb, unsigned int plane) { return vb2_plane_size(vb, plane); }
unsigned long daedalus_shim_vb2_get_plane_payload(struct vb2_buffer *vb, unsigned int plane) { return vb2_get_plane_payload(vb, plane); }
void daedalus_shim_v4l2_m2m_buf_done(struct vb2_v4l2_buffer *buf, int state) { v4l2_m2m_buf_done(buf, state); }
void daedalus_shim_vb2_clear_last_buffer_dequeued(struct vb2_queue *q) { vb2_clear_last_buffer_dequeued(q); }
struct vb2_queue *daedalus_shim_m2m_src_vq(struct v4l2_m2m_ctx *m2m_ctx) { return v4l2_m2m_get_src_vq(m2m_ctx); }
struct vb2_queue *daedalus_shim_m2m_dst_vq(struct v4l2_m2m_ctx *m2m_ctx) { return v4l2_m2m_get_dst_vq(m2m_ctx); }
void daedalus_shim_get_dma_buf(struct dma_buf *dmabuf) { get_dma_buf(dmabuf); }
struct file *daedalus_shim_dma_buf_file(struct dma_buf *dmabuf) { return dmabuf->file; }
void daedalus_shim_init_waitqueue_head(struct wait_queue_head *wq) { init_waitqueue_head(wq); }
void daedalus_shim_wake_up_interruptible(struct wait_queue_head *wq) { wake_up_interruptible(wq); }
void daedalus_shim_poll_wait(struct file *file, struct wait_queue_head *wq, struct poll_table_struct *pt) { poll_wait(file, wq, pt); }
void daedalus_shim_init_delayed_work(struct delayed_work *work, void (*fn)(struct work_struct *)) { INIT_DELAYED_WORK(work, fn); }
bool daedalus_shim_schedule_delayed_work(struct delayed_work *work, unsigned long delay) { return schedule_delayed_work(work, delay); }
unsigned long daedalus_shim_jiffies(void) { return jiffies; }
unsigned long daedalus_shim_msecs_to_jiffies(unsigned int ms) { return msecs_to_jiffies(ms); }
int daedalus_shim_v4l2_ctrl_s_ctrl(struct v4l2_ctrl *ctrl, int val) { return v4l2_ctrl_s_ctrl(ctrl, val); }
struct platform_device *daedalus_shim_platform_device_register_simple(const char *name) { return platform_device_register_simple(name, PLATFORM_DEVID_NONE, NULL, 0); }
bool daedalus_shim_is_err_or_null(const void *ptr) { return IS_ERR_OR_NULL(ptr); }
long daedalus_shim_ptr_err(const void *ptr) { return PTR_ERR(ptr); }
struct module *daedalus_shim_this_module(void) { return THIS_MODULE; }
int daedalus_shim_v4l2_ctrl_handler_init(struct v4l2_ctrl_handler *hdl, unsigned int nr) { return v4l2_ctrl_handler_init(hdl, nr); }
void daedalus_shim_mutex_lock(struct mutex *lock) { mutex_lock(lock); }
void daedalus_shim_mutex_unlock(struct mutex *lock) { mutex_unlock(lock); }
